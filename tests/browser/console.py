#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
"""The web console in a real headless Chromium, driven through Debian's
chromedriver and python3-selenium, against a real agent.

Run by tests/browser/test_console.sh inside the test's host namespace (where
the agent's --web listener is), one phase at a time:

  console.py live URL OUTDIR --ms-bin BIN --deny 'CMD {port}' --stop 'CMD'
  console.py big URL OUTDIR --edges N

Each check prints "PASS: name" or "FAIL: name: why". Every view is
screenshotted to OUTDIR, and a screenshot whose view is blank (its pixels,
not its DOM) fails.
"""
import atexit
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

from PIL import Image
from selenium import webdriver
from selenium.common.exceptions import TimeoutException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

failed = False


def report(name, ok, why=''):
    global failed
    if ok:
        print('PASS: ' + name, flush=True)
    else:
        failed = True
        print('FAIL: %s: %s' % (name, why), flush=True)
    return ok


def api(url, path):
    with urllib.request.urlopen(url + path, timeout=10) as r:
        return json.loads(r.read())


def browser():
    # The profile is this run's, gone when it exits (after drv.quit()).
    profile = tempfile.mkdtemp(prefix='ms-chromium-')
    atexit.register(shutil.rmtree, profile, ignore_errors=True)
    opts = webdriver.ChromeOptions()
    opts.binary_location = '/usr/bin/chromium'
    # As root, and with no network beyond the agent: nothing of Chromium's
    # own may try to reach out.
    for a in ('--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
              '--no-first-run', '--disable-background-networking',
              '--disable-component-update', '--disable-sync',
              '--disable-dev-shm-usage', '--window-size=1400,900',
              '--user-data-dir=' + profile):
        opts.add_argument(a)
    opts.set_capability('goog:loggingPrefs', {'browser': 'ALL', 'performance': 'ALL'})
    drv = webdriver.Chrome(service=Service('/usr/bin/chromedriver'), options=opts)
    drv.set_window_size(1400, 900)
    return drv


def wait(drv, seconds, cond):
    """Poll cond(drv) until truthy; return its value, or None on timeout."""
    try:
        return WebDriverWait(drv, seconds, poll_frequency=0.1).until(cond)
    except TimeoutException:
        return None


def js(drv, script, *args):
    return drv.execute_script(script, *args)


def goto(drv, view):
    drv.find_element(By.CSS_SELECTOR, 'nav a[data-view=%s]' % view).click()
    wait(drv, 5, lambda d: d.find_element(By.ID, 'view-' + view).is_displayed())


def shot(drv, outdir, name, selector):
    """Screenshot the page; the element's area must not be blank: at least
    1 % of its pixels differ clearly from its own background."""
    path = os.path.join(outdir, 'console-%s.png' % name)
    drv.save_screenshot(path)
    r = js(drv, '''const r = document.querySelector(arguments[0]).getBoundingClientRect();
        return [r.left, r.top, r.right, r.bottom, window.devicePixelRatio];''', selector)
    img = Image.open(path).convert('RGB')
    s = r[4] or 1
    box = tuple(int(v * s) for v in r[:4])
    crop = img.crop(box)
    w, h = crop.size
    if w < 50 or h < 50:
        return report('%s-screenshot' % name, False, 'view is %dx%d px' % (w, h)), crop
    px = crop.load()
    # The most common colour is the background.
    counts = {}
    for y in range(0, h, 2):
        for x in range(0, w, 2):
            counts[px[x, y]] = counts.get(px[x, y], 0) + 1
    bg = max(counts, key=counts.get)
    total = sum(counts.values())
    ink = sum(n for c, n in counts.items() if sum(abs(a - b) for a, b in zip(c, bg)) > 60)
    report('%s-screenshot-not-blank' % name, ink > total * 0.01,
           '%.2f %% of the pixels differ from the background (%s)' % (100.0 * ink / total, path))
    return True, crop


def has_colour(crop, rgb, tol=24, min_px=100):
    """At least min_px pixels of colour rgb, as drawn: edges have a stroke
    opacity, so a pixel may be rgb over the background at some alpha."""
    colours = crop.getcolors(crop.size[0] * crop.size[1])
    bg = max(colours)[1][:3]
    # alpha from the channel where rgb and the background differ most
    d = max(range(3), key=lambda i: abs(rgb[i] - bg[i]))
    n = 0
    for (k, c) in colours:
        c = c[:3]
        a = (c[d] - bg[d]) / (rgb[d] - bg[d])
        if a < 0.7 or a > 1.05:
            continue
        want = [bg[i] + a * (rgb[i] - bg[i]) for i in range(3)]
        if sum(abs(c[i] - want[i]) for i in range(3)) < tol:
            n += k
            if n >= min_px:
                return True
    return False


def check_logs(drv, origin, name):
    """No console errors; no request anywhere but the agent."""
    errors = [e for e in drv.get_log('browser') if e['level'] == 'SEVERE']
    report(name + '-no-console-errors', not errors, '; '.join(e['message'] for e in errors[:5]))
    foreign = []
    for e in drv.get_log('performance'):
        m = json.loads(e['message'])['message']
        if m.get('method') != 'Network.requestWillBeSent':
            continue
        u = m['params']['request']['url']
        # Chromium's own pages (the blank tab it starts on) are not requests.
        if u.startswith(('chrome://', 'about:')):
            continue
        if not (u.startswith(origin + '/') or u == origin or u.startswith('data:')):
            foreign.append(u)
    report(name + '-no-other-origin', not foreign, ', '.join(foreign[:5]))


def edge_key(e):
    return (e['src'], e['dst'], e['proto'], str(e['port']))


def drawn_graph(drv):
    return js(drv, '''
        const n = [...document.querySelectorAll('#map-svg g.node')].map(g =>
            [g.dataset.id, g.querySelector('text').textContent]);
        const e = [...document.querySelectorAll('#map-svg path.edge')].map(p =>
            [p.dataset.src, p.dataset.dst, p.dataset.proto, p.dataset.port,
             p.getAttribute('class'), getComputedStyle(p).stroke]);
        return [n, e];''')


def phase_live(url, outdir, ms_bin, deny_cmd, stop_cmd):
    drv = browser()
    try:
        drv.get(url + '/')
        report('opens-on-map', wait(drv, 10, lambda d: d.find_element(By.ID, 'view-map').is_displayed()),
               'the Map view is not shown first')

        # Map: one SVG node per graph node, with its name; one path per edge;
        # denied edges drawn as denied.
        g = api(url, '/v1/graph')
        want_nodes = {n['id']: n['name'] for n in g['nodes']}
        want_edges = {edge_key(e): e for e in g['edges']}
        got = wait(drv, 15, lambda d: (lambda r: r if {k for k, _ in r[0]} >= set(want_nodes) and
                                        len(r[1]) >= len(want_edges) else None)(drawn_graph(d)))
        if not got:
            got = drawn_graph(drv)
        nodes, edges = got
        report('map-node-per-graph-node', sorted(k for k, _ in nodes) == sorted(want_nodes),
               'drawn %s, graph %s' % (sorted(k for k, _ in nodes), sorted(want_nodes)))
        report('map-nodes-named', all(want_nodes.get(k) == t for k, t in nodes),
               'names %s' % nodes)
        report('map-workload-names', {'server', 'client'} <= {t for _, t in nodes}, str(nodes))
        drawn = {tuple(e[:4]): e for e in edges}
        report('map-edge-per-graph-edge', set(drawn) == set(want_edges) and len(edges) == len(want_edges),
               'drawn %s, graph %s' % (sorted(drawn), sorted(want_edges)))
        denied = [k for k, e in want_edges.items() if e['denied'] > 0]
        report('map-has-denied-edges', len(denied) >= 1, 'no denied edge in the graph')
        report('map-denied-styled', all(k in drawn and 'deny' in drawn[k][4].split() and
                                        drawn[k][5] == 'rgb(248, 81, 73)' for k in denied),
               str([drawn.get(k) for k in denied]))
        allowed = [k for k, e in want_edges.items() if e['denied'] == 0 and e['audit'] == 0]
        report('map-allowed-styled', allowed and all(k in drawn and 'allow' in drawn[k][4].split() and
                                                     drawn[k][5] == 'rgb(63, 185, 80)' for k in allowed),
               str([drawn.get(k) for k in allowed]))
        time.sleep(1.5)  # let the layout settle before the picture
        ok, crop = shot(drv, outdir, 'map', '#map-canvas')
        report('map-pixels-denied-red', has_colour(crop, (248, 81, 73)), 'no red edge in the screenshot')
        report('map-pixels-allowed-green', has_colour(crop, (63, 185, 80)), 'no green edge in the screenshot')

        # Selecting an edge shows its flows and the rule that decided it.
        k = denied[0]
        js(drv, '''const p = [...document.querySelectorAll('#map-svg path.edge-hit')].find(p =>
            p.__data__.key === arguments[0]);
            p.dispatchEvent(new MouseEvent('click', {bubbles: true}));''', '|'.join(k))
        det = wait(drv, 5, lambda d: (lambda t: t if 'decided by' in t and 'recent flows' in t
                                      and 'loading' not in t else None)(d.find_element(By.ID, 'map-details').text))
        txt = drv.find_element(By.ID, 'map-details').text
        rule = want_edges[k]['rules'][0]
        report('map-edge-details', det and rule in txt and ('deny' in txt), txt[:300])
        report('map-edge-details-flows', 'deny' in txt and ':%s' % k[3] in txt, txt[:400])
        js(drv, '''document.querySelector('#map-svg g.node[data-id="workload:server"]')
            .dispatchEvent(new MouseEvent('click', {bubbles: true}));''')
        det = wait(drv, 5, lambda d: 'accepts' in d.find_element(By.ID, 'map-details').text)
        txt = drv.find_element(By.ID, 'map-details').text
        report('map-node-details', det and 'server' in txt and 'role=web' in txt, txt[:300])

        # Flows: a new denied flow shows within 2 s, marked as denied.
        goto(drv, 'flows')
        wait(drv, 5, lambda d: d.find_elements(By.CSS_SELECTOR, '#flows-table tbody tr'))
        port = 9091

        def row_for(d, port):
            for tr in d.find_elements(By.CSS_SELECTOR, '#flows-table tbody tr[data-verdict=deny]'):
                cells = tr.find_elements(By.TAG_NAME, 'td')
                if len(cells) > 10 and cells[10].text == str(port) and tr.is_displayed():
                    return tr
            return None
        subprocess.run(shlex.split(deny_cmd.format(port=port)), timeout=10)
        t0 = time.monotonic()
        tr = wait(drv, 2.0, lambda d: row_for(d, port))
        dt = time.monotonic() - t0
        report('flows-deny-row-within-2s', tr is not None, 'no deny row for port %d after %.1f s' % (port, dt))
        if tr is not None:
            bg = js(drv, 'return getComputedStyle(arguments[0].cells[0]).backgroundColor', tr)
            report('flows-deny-row-marked', 'verdict-deny' in tr.get_attribute('class') and bg != 'rgba(0, 0, 0, 0)',
                   'class %s background %s' % (tr.get_attribute('class'), bg))
            # The listener it was denied to is a local socket: its cgroup is
            # named (its process too where the group runs one program).
            proc = tr.find_elements(By.TAG_NAME, 'td')[13].text
            report('flows-row-names-local-process', proc.startswith('← ') and len(proc) > 2,
                   'local process cell: %r' % proc)
        # Pausing holds new rows back; resuming shows them.
        drv.find_element(By.ID, 'flows-pause').click()
        subprocess.run(shlex.split(deny_cmd.format(port=port + 1)), timeout=10)
        held = wait(drv, 3, lambda d: 'held back' in d.find_element(By.ID, 'flows-info').text and
                    '0 new held' not in d.find_element(By.ID, 'flows-info').text)
        report('flows-pause-holds', held and row_for(drv, port + 1) is None,
               drv.find_element(By.ID, 'flows-info').text)
        drv.find_element(By.ID, 'flows-pause').click()
        report('flows-resume-shows', wait(drv, 2, lambda d: row_for(d, port + 1)) is not None, 'no row after resume')
        # The filter narrows what is shown.
        f = drv.find_element(By.ID, 'flows-filter')
        f.send_keys(str(port + 1))
        vis = wait(drv, 2, lambda d: (lambda rows: rows if rows and all(str(port + 1) in r.text for r in rows) else None)(
            [r for r in d.find_elements(By.CSS_SELECTOR, '#flows-table tbody tr') if r.is_displayed()]))
        report('flows-filter', vis is not None, 'rows shown do not all match the filter')
        f.clear()
        f.send_keys(' ')  # an input event with an empty filter again
        shot(drv, outdir, 'flows', '#view-flows')

        # Policy: the rules in evaluation order with /v1/policy's hit counts.
        goto(drv, 'policy')
        p = api(url, '/v1/policy')
        want = [(r['name'], str(r['hits'])) for r in p['rules']] + [('default', str(p['default_hits']))]

        def rows(d):
            return [(tr.get_attribute('data-rule'), tr.get_attribute('data-hits'))
                    for tr in d.find_elements(By.CSS_SELECTOR, '#policy-rules tbody tr')]
        got = wait(drv, 12, lambda d: rows(d) == want and rows(d))
        report('policy-rules-hits', got is not None, 'page %s, /v1/policy %s' % (rows(drv), want))
        cards = drv.find_element(By.ID, 'policy-cards').text
        report('policy-cards', 'enforce' in cards and 'generation' in cards and 'ms' in cards, cards)
        report('policy-charts', wait(drv, 12, lambda d: len(d.find_elements(By.CSS_SELECTOR, '#policy-charts svg path.line')) == 4),
               'no charts')
        shot(drv, outdir, 'policy', '#view-policy')

        # Suggest: YAML that microsegd --check accepts, and a replay summary.
        goto(drv, 'suggest')
        y = wait(drv, 10, lambda d: d.find_element(By.ID, 'suggest-yaml').text.strip())
        report('suggest-shows-yaml', bool(y) and 'rules:' in y, 'no YAML shown')
        if y:
            with tempfile.NamedTemporaryFile('w', suffix='.yaml', delete=False) as tf:
                tf.write(js(drv, "return document.getElementById('suggest-yaml').textContent"))
            r = subprocess.run([ms_bin, '--check', '-p', tf.name], capture_output=True, text=True, timeout=30)
            report('suggest-yaml-passes-check', r.returncode == 0, r.stderr.strip()[:300])
            os.unlink(tf.name)
        summary = drv.find_element(By.ID, 'suggest-summary').text
        report('suggest-replay-summary', 'recent flows replayed' in summary and 'would deny' in summary, summary)
        href = drv.find_element(By.ID, 'suggest-download').get_attribute('href')
        report('suggest-download-link', href.startswith(url + '/v1/suggest'), href)
        shot(drv, outdir, 'suggest', '#view-suggest')

        check_logs(drv, url, 'live')

        # The agent gone: the page says so.
        goto(drv, 'map')
        subprocess.run(shlex.split(stop_cmd), timeout=20)
        b = wait(drv, 12, lambda d: d.find_element(By.ID, 'unreachable').is_displayed())
        report('unreachable-message', b and 'unreachable' in drv.find_element(By.ID, 'unreachable').text,
               'no message after the agent stopped')
        shot(drv, outdir, 'unreachable', 'body')
    finally:
        drv.quit()


def phase_big(url, outdir, n_edges):
    drv = browser()
    try:
        g = api(url, '/v1/graph')
        report('big-graph-loaded', len(g['edges']) >= n_edges, '%d edges' % len(g['edges']))
        drv.get(url + '/')
        note = wait(drv, 30, lambda d: d.find_element(By.ID, 'map-note').is_displayed() and
                    d.find_element(By.ID, 'map-note').text)
        report('big-graph-says-capped', note and 'busiest' in note, str(note))
        n = len(drv.find_elements(By.CSS_SELECTOR, '#map-svg path.edge'))
        report('big-graph-draws-bounded', 0 < n <= 1500, '%d edges drawn' % n)
        info = drv.find_element(By.ID, 'map-info').text
        report('big-graph-counts-shown', '{:,}'.format(len(g['edges'])) in info, info)
        # Still responsive: a click selects a node.
        nid = js(drv, "return document.querySelector('#map-svg g.node').dataset.id")
        js(drv, '''document.querySelector('#map-svg g.node[data-id="' + arguments[0] + '"]')
            .dispatchEvent(new MouseEvent('click', {bubbles: true}));''', nid)
        sel = wait(drv, 20, lambda d: d.find_elements(By.CSS_SELECTOR, '#map-svg g.node.selected'))
        report('big-graph-responsive', bool(sel), 'no selection after a click')
        time.sleep(2)
        shot(drv, outdir, 'map-big', '#map-canvas')
        check_logs(drv, url, 'big')
    finally:
        drv.quit()


def main():
    args = sys.argv[1:]
    phase, url, outdir = args[:3]
    opt = dict(zip(args[3::2], args[4::2]))
    os.makedirs(outdir, exist_ok=True)
    try:
        if phase == 'live':
            phase_live(url, outdir, opt['--ms-bin'], opt['--deny'], opt['--stop'])
        else:
            phase_big(url, outdir, int(opt['--edges']))
    except WebDriverException as e:
        report('browser-' + phase, False, str(e).splitlines()[0] if str(e) else repr(e))
    sys.exit(1 if failed else 0)


if __name__ == '__main__':
    main()
