#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
"""Save a picture of the web console's Map, as a person would see it:

    console-screenshot.py URL OUT.png [VIEW]

Debian's headless chromium through chromedriver (python3-selenium); it waits
for the graph to be drawn and its layout to settle. `make screenshot` uses it
for the README's picture.
"""
import sys
import tempfile
import time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.support.ui import WebDriverWait


def main():
    url, out = sys.argv[1:3]
    view = sys.argv[3] if len(sys.argv) > 3 else 'map'
    opts = webdriver.ChromeOptions()
    opts.binary_location = '/usr/bin/chromium'
    for a in ('--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
              '--disable-background-networking', '--disable-component-update', '--disable-sync',
              '--disable-dev-shm-usage', '--user-data-dir=' + tempfile.mkdtemp(prefix='ms-shot-')):
        opts.add_argument(a)
    drv = webdriver.Chrome(service=Service('/usr/bin/chromedriver'), options=opts)
    try:
        drv.set_window_size(1400, 800)
        drv.get(url.rstrip('/') + '/#' + view)
        if view == 'map':
            WebDriverWait(drv, 20).until(lambda d: d.execute_script(
                "return document.querySelectorAll('#map-svg g.node').length > 0"))
        time.sleep(4)  # the layout settles and is framed
        drv.save_screenshot(out)
    finally:
        drv.quit()


if __name__ == '__main__':
    main()
