#!/usr/bin/python3
"""check_report.py - opens a stylex report in a real headless browser and fails
on anything a reader would hit: console errors, uncaught JS errors, failed or
network requests, broken images, a slider that does not work.

    python3 scripts/check_report.py report/index.html [--screenshot docs/report.png] [--width 1280]

Drives Debian's chromium through chromedriver with the W3C WebDriver protocol
over plain HTTP (Python standard library only). The page is loaded from a
file:// URL; every request it makes is read from chromium's performance log
(the DevTools Network events), console messages from the browser log. Exit
status: 0 when the page is clean, 1 with one line per problem otherwise,
2 when the browser cannot be started. chromedriver and chromium are always
shut down, also on errors.
"""
import argparse
import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"

# Headless, and nothing that talks to Google or anyone else on its own.
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-domain-reliability",
    "--disable-extensions",
    "--disable-sync",
    "--disable-breakpad",
    "--disable-client-side-phishing-detection",
    "--disable-features=Translate,OptimizationHints,MediaRouter,DialMediaRouteProvider,"
    "AutofillServerCommunication,CertificateTransparencyComponentUpdater,InterestFeedContentSuggestions",
    "--metrics-recording-only",
    "--no-first-run",
    "--no-default-browser-check",
    "--no-pings",
    "--safebrowsing-disable-auto-update",
    "--password-store=basic",
    "--use-mock-keychain",
    "--mute-audio",
    "--hide-scrollbars",
    "--force-device-scale-factor=1",
]

# Installed before the page's own scripts run: records uncaught errors and
# unhandled promise rejections, which the checks read back.
ERROR_HOOK = """
window.__reportErrors = [];
window.addEventListener('error', function (e) {
  if (e.target && e.target !== window && e.target.tagName) return;   /* resource errors: see the network log */
  window.__reportErrors.push(String(e.message) + ' (' + e.filename + ':' + e.lineno + ')');
});
window.addEventListener('unhandledrejection', function (e) {
  window.__reportErrors.push('unhandled rejection: ' + String(e.reason));
});
"""


class WebDriverError(Exception):
    pass


def die(msg):
    """Setup failure (no page, no browser): exit status 2."""
    print("check_report: " + msg, file=sys.stderr)
    sys.exit(2)


def ensure_browser():
    """Installs chromium and chromium-driver with apt-get when missing (as root)."""
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not os.path.exists(p)]
    if not missing:
        return
    if os.geteuid() != 0:
        die("%s missing; install them as root: apt-get install -y chromium chromium-driver"
                 % " and ".join(missing))
    print("check_report: installing chromium and chromium-driver (apt-get)", file=sys.stderr)
    cmd = ["apt-get", "install", "-y", "--no-install-recommends", "chromium", "chromium-driver"]
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    if subprocess.call(cmd, env=env) != 0:
        subprocess.call(["apt-get", "update"], env=env)
        if subprocess.call(cmd, env=env) != 0:
            die("apt-get install chromium chromium-driver failed")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Driver:
    """A chromedriver process and one session, spoken to over WebDriver HTTP."""

    def __init__(self, width, height):
        self.port = free_port()
        self.base = "http://127.0.0.1:%d" % self.port
        self.profile = tempfile.mkdtemp(prefix="check_report_")
        self.session = None
        # its own process group, so that the browser it starts goes with it
        self.proc = subprocess.Popen([CHROMEDRIVER, "--port=%d" % self.port, "--allowed-ips=127.0.0.1"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     start_new_session=True)
        deadline = time.time() + 20
        while True:
            try:
                if self.call("GET", "/status").get("ready"):
                    break
            except (OSError, WebDriverError):
                pass
            if self.proc.poll() is not None or time.time() > deadline:
                raise WebDriverError("chromedriver did not start on port %d" % self.port)
            time.sleep(0.1)
        caps = {
            "browserName": "chrome",
            "pageLoadStrategy": "normal",
            "goog:loggingPrefs": {"browser": "ALL", "performance": "ALL"},
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": CHROMIUM_ARGS + ["--user-data-dir=" + self.profile, "--window-size=%d,%d" % (width, height)],
                "perfLoggingPrefs": {"enableNetwork": True, "enablePage": False},
            },
        }
        value = self.call("POST", "/session", {"capabilities": {"alwaysMatch": caps}})
        self.session = value["sessionId"]

    def call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=120) as r:
                reply = json.loads(r.read() or b"{}")
        except urllib.error.HTTPError as e:
            try:
                v = json.loads(e.read()).get("value", {})
                msg = "%s: %s" % (v.get("error"), (v.get("message") or "").splitlines()[0])
            except (ValueError, AttributeError, IndexError):
                msg = str(e)
            raise WebDriverError("%s %s: %s" % (method, path, msg)) from None
        return reply.get("value")

    def s(self, method, path, body=None):
        """A call on the session: path relative to /session/{id}."""
        return self.call(method, "/session/%s%s" % (self.session, path), body)

    def script(self, source, *args):
        return self.s("POST", "/execute/sync", {"script": source, "args": list(args)})

    def cdp(self, cmd, params=None):
        return self.s("POST", "/goog/cdp/execute", {"cmd": cmd, "params": params or {}})

    def log(self, kind):
        return self.s("POST", "/se/log", {"type": kind}) or []

    def close(self):
        try:
            if self.session:
                self.call("DELETE", "/session/" + self.session)
        except (OSError, WebDriverError):
            pass
        finally:
            self.session = None
            # chromedriver and whatever browser processes are left in its group
            group_signal(self.proc.pid, signal.SIGTERM)
            deadline = time.time() + 10
            while group_signal(self.proc.pid, 0) and time.time() < deadline:
                self.proc.poll()   # reaps chromedriver itself
                time.sleep(0.05)
            if group_signal(self.proc.pid, signal.SIGKILL):
                time.sleep(0.2)
            self.proc.wait()
            shutil.rmtree(self.profile, ignore_errors=True)


def group_signal(pgid, sig):
    """Sends sig to process group pgid; False when the group is gone."""
    try:
        os.killpg(pgid, sig)
        return True
    except ProcessLookupError:
        return False


def network_problems(entries, page_url):
    """Problems in the performance log from the request for page_url on:
    non-file requests, failures, HTTP >= 400."""
    problems, urls, requests, started = [], {}, 0, False
    for entry in entries:
        try:
            msg = json.loads(entry["message"])["message"]
        except (KeyError, ValueError, TypeError):
            continue
        method, params = msg.get("method", ""), msg.get("params", {})
        if method == "Network.requestWillBeSent":
            url = params.get("request", {}).get("url", "")
            started = started or url == page_url
        if not started:
            continue   # the browser's own start-up tab
        if method == "Network.requestWillBeSent":
            urls[params.get("requestId")] = url
            requests += 1
            if not url.startswith("file://"):
                problems.append("request to a non-file URL: %s (document %s)" % (url[:200], params.get("documentURL", "?")[:100]))
        elif method == "Network.loadingFailed":
            url = urls.get(params.get("requestId"), "?")
            why = params.get("errorText", "") + (" (blocked: %s)" % params["blockedReason"]
                                                 if params.get("blockedReason") else "")
            problems.append("failed request: %s: %s" % (url, why))
        elif method == "Network.responseReceived":
            resp = params.get("response", {})
            status = resp.get("status") or 0
            if status >= 400:
                problems.append("HTTP %d for %s" % (status, resp.get("url", "?")))
    return problems, requests


def console_problems(entries):
    problems, warnings = [], 0
    for e in entries:
        level = e.get("level", "")
        if level in ("SEVERE", "ERROR"):
            problems.append("console %s: %s" % (level.lower(), e.get("message", "")[:300]))
        elif level == "WARNING":
            warnings += 1
    return problems, warnings


# Reads the state of the first viewer: its image's src, whether that image
# is loaded, and the probability text.
VIEWER_STATE = """
var v = document.querySelector('.viewer');
if (!v) return null;
var img = v.querySelector('img.frame'), out = v.querySelector('output'), r = v.querySelector('input[type=range]');
return {src: img ? img.getAttribute('src') : null, loaded: !!(img && img.complete && img.naturalWidth > 0),
        text: out ? out.textContent : null, value: r ? r.value : null, max: r ? r.max : null};
"""


def check_slider(drv):
    """Moves the first slider to its end with real key presses; returns a problem or None."""
    before = drv.script(VIEWER_STATE)
    if before is None:
        return None, "no slider"
    if before["max"] in (None, "0"):
        return None, "slider with one frame"
    el = drv.s("POST", "/element", {"using": "css selector", "value": ".viewer input[type=range]"})
    el_id = next(iter(el.values()))
    drv.script("arguments[0].scrollIntoView({block: 'center'});", el)
    drv.s("POST", "/element/%s/value" % el_id, {"text": "\ue010"})   # End: the last frame
    deadline = time.time() + 5
    after = drv.script(VIEWER_STATE)
    while not after["loaded"] and time.time() < deadline:
        time.sleep(0.05)
        after = drv.script(VIEWER_STATE)
    drv.script("window.scrollTo(0, 0);")
    if after["value"] != before["max"]:
        return "slider: the End key left it at %s of %s" % (after["value"], before["max"]), None
    if after["src"] == before["src"]:
        return "slider: the image stayed %s" % before["src"], None
    if after["text"] == before["text"]:
        return "slider: the probability text stayed %r" % before["text"], None
    if not after["loaded"]:
        return "slider: the frame %s did not load" % after["src"], None
    return None, "slider works (%s -> %s)" % (before["text"], after["text"])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("page", help="the report's index.html")
    ap.add_argument("--screenshot", help="write a full-page PNG screenshot here")
    ap.add_argument("--width", type=int, default=1280, help="window width in pixels (default 1280)")
    ap.add_argument("--max-height", type=int, default=6000, help="screenshot height cap in pixels (default 6000)")
    args = ap.parse_args()
    page = Path(args.page).resolve()
    if not page.is_file():
        die("%s: no such file" % args.page)
    ensure_browser()

    problems, notes = [], []
    try:
        drv = Driver(args.width, 900)
    except (OSError, WebDriverError) as e:
        die("cannot start the browser: %s" % e)
    try:
        drv.cdp("Page.addScriptToEvaluateOnNewDocument", {"source": ERROR_HOOK})
        # drop what the browser logged before the page (its start-up tab)
        drv.log("browser")
        drv.log("performance")
        drv.s("POST", "/url", {"url": page.as_uri()})
        # the load event has fired (pageLoadStrategy normal); wait for images too
        deadline = time.time() + 30
        while not drv.script("return document.readyState === 'complete' && "
                             "Array.prototype.every.call(document.images, function (i) { return i.complete; });"):
            if time.time() > deadline:
                problems.append("the page did not finish loading in 30 s")
                break
            time.sleep(0.1)

        images = drv.script("return Array.prototype.map.call(document.images, function (i) {"
                            " return [i.getAttribute('src'), i.naturalWidth]; });")
        broken = [src for src, w in images if not w]
        problems += ["broken image: %s" % src for src in broken]

        slider_problem, slider_note = check_slider(drv)
        if slider_problem:
            problems.append(slider_problem)
        if slider_note:
            notes.append(slider_note)

        js_errors = drv.script("return window.__reportErrors || [];")
        problems += ["uncaught JS error: %s" % e for e in js_errors]

        if args.screenshot:
            height = drv.script("return Math.max(document.documentElement.scrollHeight, document.body.scrollHeight);")
            height = min(int(height), args.max_height)
            drv.s("POST", "/window/rect", {"width": args.width, "height": height})
            time.sleep(0.3)
            png = base64.b64decode(drv.s("GET", "/screenshot"))
            out = Path(args.screenshot)
            out.parent.mkdir(parents=True, exist_ok=True)
            tmp = out.with_name(out.name + ".tmp")
            tmp.write_bytes(png)
            tmp.replace(out)
            notes.append("screenshot %s (%dx%d)" % (args.screenshot, args.width, height))

        # logs last, so that they cover the slider and the screenshot
        con, warnings = console_problems(drv.log("browser"))
        net, n_requests = network_problems(drv.log("performance"), page.as_uri())
        if n_requests == 0:
            net.append("the performance log has no request for %s" % page.as_uri())
        problems += con + net
    except (OSError, WebDriverError) as e:
        problems.append("webdriver: %s" % e)
        con, net, warnings, n_requests = [], [], 0, 0
    finally:
        drv.close()

    if problems:
        print("FAILED: %d problem(s) in %s" % (len(problems), args.page))
        for p in problems:
            print("  - " + p)
        sys.exit(1)
    print("ok: %d console errors (%d warnings), %d failed requests of %d, %d images, %s" % (
        len(con), warnings, len(net), n_requests, len(images), ", ".join(notes)))


if __name__ == "__main__":
    main()
