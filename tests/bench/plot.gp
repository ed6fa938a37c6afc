# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
# The plot of `make bench` (tests/bench/run.sh):
#   gnuplot -e "datadir='build/bench'; out='tests/bench/plot.png'" tests/bench/plot.gp
# Left: new TCP connections per second against rule count for microsegd,
# nftables and iptables (median, bars from min to max), and no filter.
# Right: microsegd's classifier, ns per new-flow packet against rule count
# (BPF_PROG_TEST_RUN, from build/bench/classifier.json).

if (!exists("datadir")) datadir = 'build/bench'
if (!exists("out")) out = 'tests/bench/plot.png'

conn = datadir.'/conn_sweep.dat'
none = real(system('cat '.datadir.'/conn_none.dat'))
nf = datadir.'/newflow_ns.dat'
have_nf = int(system('grep -vc "^#" '.nf.' || true')) > 0
have_conn = int(system('grep -vc "^#" '.conn.' || true')) > 0

set terminal pngcairo size 1400,560 font 'DejaVu Sans,11' noenhanced
set output out
set multiplot layout 1,2 title 'microsegd benchmark: new connections vs. rule count (veth between two namespaces, one run)'

set logscale x 10
set logscale y 10
set grid xtics ytics mytics
set xlabel 'rules in the policy'
set ylabel 'new TCP connections per second'
set key bottom left box opaque
set format x '%.0s%c'
set xrange [5:200000]
set title 'connect + RST close, 2 client threads'
if (!have_conn) {
	set label 2 'no rule-count sweep in this run' at graph 0.5, 0.5 center
	set yrange [100:100000]
	plot none with lines dt 2 lw 1.5 lc rgb 'black' title 'no filter'
} else {
plot conn using 1:2:3:4 with yerrorlines lw 2 pt 7 lc rgb '#1b9e77' title 'microsegd', \
     conn using 1:5:6:7 with yerrorlines lw 2 pt 5 lc rgb '#d95f02' title 'nftables (sets)', \
     conn using 1:8:9:10 with yerrorlines lw 2 pt 9 lc rgb '#7570b3' title 'iptables (linear)', \
     none with lines dt 2 lw 1.5 lc rgb 'black' title 'no filter'
}

unset logscale y
set yrange [0:*]
set ylabel 'ns per packet'
set title "microsegd classifier, first packet of a new flow (BPF_PROG_TEST_RUN)"
set key top left
if (have_nf) {
	plot nf using 1:2 with linespoints lw 2 pt 7 lc rgb '#1b9e77' title 'new-flow ns/packet'
} else {
	set label 1 'no build/bench/classifier.json in this run' at graph 0.5, 0.5 center
	set yrange [0:1]
	plot 2 notitle
}
unset multiplot
