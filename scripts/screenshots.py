"""The README's screenshots, taken from the running `make run` demo.

    scripts/screenshots.py [--url URL] [--login sally] [--password sally]
                           [--out docs/screenshots] [--chromium /usr/bin/chromium]

Signs in as the demo salesperson, opens the "Acme Corp" opportunity, its Emails
view and the salesperson's mailbox in headless Chromium (driven over the Chrome
DevTools protocol, websocket-client being one of Odoo's own requirements), and
saves small PNGs (1000 px wide, 256 colours) under ``--out``. `make run` must be
running (its URL is read from .run/dev.conf); Chromium is started here and ended
by its own PID.
"""

import argparse
import base64
import configparser
import io
import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from http.cookiejar import CookieJar

import websocket
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WIDTH, HEIGHT = 1000, 760
LEAD_NAME = "Acme Corp"
TIMEOUT = 60


def _dev_url():
    conf = configparser.ConfigParser()
    conf.read(os.path.join(ROOT, ".run", "dev.conf"))
    port = conf.get("options", "http_port", fallback="8069")
    return f"http://127.0.0.1:{port}", conf.get("options", "db_name", fallback="")


class Odoo:
    """JSON-RPC as the signed-in user (the session the browser then reuses)."""

    def __init__(self, url, db, login, password):
        self.url = url
        self.cookies = CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.cookies)
        )
        self.ids = itertools.count(1)
        session = self.call(
            "/web/session/authenticate", db=db, login=login, password=password
        )
        self.uid = session["uid"]

    def call(self, path, **params):
        body = {"jsonrpc": "2.0", "method": "call", "id": next(self.ids)}
        body["params"] = params
        request = urllib.request.Request(
            self.url + path,
            json.dumps(body).encode(),
            {"Content-Type": "application/json"},
        )
        with self.opener.open(request, timeout=TIMEOUT) as response:
            answer = json.load(response)
        if answer.get("error"):
            raise SystemExit(f"{path}: {answer['error']['data']['message']}")
        return answer["result"]

    def search(self, model, domain):
        return self.call(
            "/web/dataset/call_kw",
            model=model,
            method="search",
            args=[domain],
            kwargs={"limit": 1},
        )

    @property
    def session_id(self):
        return next(c.value for c in self.cookies if c.name == "session_id")


class Chromium:
    """A headless Chromium of our own, one page, driven over the DevTools
    protocol."""

    def __init__(self, binary):
        self.profile = tempfile.mkdtemp(prefix="mail-sync-shots-")
        self.process = subprocess.Popen(
            [
                binary,
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
                "--no-first-run",
                f"--user-data-dir={self.profile}",
                "--remote-debugging-port=0",
                f"--window-size={WIDTH},{HEIGHT}",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        port_file = os.path.join(self.profile, "DevToolsActivePort")
        for _attempt in range(200):
            if os.path.exists(port_file) and os.path.getsize(port_file):
                break
            time.sleep(0.05)
        with open(port_file) as fh:
            port = fh.readline().strip()
        with urllib.request.urlopen(
            f"http://127.0.0.1:{port}/json/list", timeout=TIMEOUT
        ) as response:
            page = next(t for t in json.load(response) if t["type"] == "page")
        self.ws = websocket.create_connection(
            page["webSocketDebuggerUrl"], timeout=TIMEOUT, suppress_origin=True
        )
        self.ids = itertools.count(1)
        self.send(
            "Emulation.setDeviceMetricsOverride",
            width=WIDTH,
            height=HEIGHT,
            deviceScaleFactor=1,
            mobile=False,
        )

    def send(self, method, **params):
        ident = next(self.ids)
        self.ws.send(json.dumps({"id": ident, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == ident:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})

    def evaluate(self, expression):
        result = self.send(
            "Runtime.evaluate",
            expression=expression,
            awaitPromise=True,
            returnByValue=True,
        )
        return result.get("result", {}).get("value")

    def wait_for(self, selector):
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            if self.evaluate(f"!!document.querySelector({json.dumps(selector)})"):
                time.sleep(0.8)  # let the page settle (fonts, images, animations)
                return
            time.sleep(0.2)
        raise SystemExit(f"timed out waiting for {selector}")

    def goto(self, url, selector):
        self.send("Page.navigate", url=url)
        self.wait_for(selector)

    def click(self, selector):
        self.evaluate(f"document.querySelector({json.dumps(selector)}).click()")

    def shot(self, path, selector=None):
        """A PNG of the viewport, or of ``selector``'s box (scrolled into view,
        at most one viewport high)."""
        # a passing notification (e.g. "the page is out of date" while the
        # server compiles its assets) is no part of the picture
        self.evaluate(
            "document.querySelectorAll('.o_notification_close')"
            ".forEach((button) => button.click())"
        )
        time.sleep(0.5)
        params = {"format": "png"}
        if selector:
            box = self.evaluate(
                f"""(() => {{
                    const el = document.querySelector({json.dumps(selector)});
                    el.scrollIntoView({{block: "start"}});
                    const r = el.getBoundingClientRect();
                    return [r.x, r.y, r.width, r.height];
                }})()"""
            )
            time.sleep(0.5)
            x, y, width, height = box
            params["clip"] = {
                "x": x,
                "y": max(0, y),
                "width": min(width, WIDTH),
                "height": min(height, HEIGHT - max(0, y)),
                "scale": 1,
            }
        data = base64.b64decode(self.send("Page.captureScreenshot", **params)["data"])
        image = Image.open(io.BytesIO(data)).convert("RGB")
        image = image.quantize(colors=256, method=Image.Quantize.MEDIANCUT)
        image.save(path, optimize=True)
        width, height = image.size
        size = os.path.getsize(path) // 1024
        name = os.path.relpath(path, ROOT)
        sys.stdout.write(f"screenshots: {name} {width}x{height}, {size} KB\n")

    def close(self):
        try:
            self.ws.close()
        finally:
            self.process.terminate()
            self.process.wait(timeout=30)
            shutil.rmtree(self.profile, ignore_errors=True)


def main():
    url, db = _dev_url()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=url)
    parser.add_argument("--db", default=db)
    parser.add_argument("--login", default="sally")
    parser.add_argument("--password", default="sally")
    parser.add_argument("--out", default=os.path.join(ROOT, "docs", "screenshots"))
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()
    try:
        odoo = Odoo(args.url, args.db, args.login, args.password)
    except OSError as exc:
        sys.exit(f"screenshots: no Odoo at {args.url} ({exc}); start `make run` first")
    [lead] = odoo.search("crm.lead", [("name", "ilike", LEAD_NAME)]) or [None]
    [mailbox] = odoo.search("mail.sync.account", [("user_id", "=", odoo.uid)]) or [None]
    if not lead or not mailbox:
        sys.exit("screenshots: the demo has no Acme Corp lead or no mailbox of yours")
    os.makedirs(args.out, exist_ok=True)
    browser = Chromium(args.chromium)
    try:
        host = urllib.parse.urlsplit(args.url).hostname
        browser.send(
            "Network.setCookie",
            name="session_id",
            value=odoo.session_id,
            domain=host,
            path="/",
        )
        label = ".o-mail-Message .o_mail_sync_label"
        browser.goto(f"{args.url}/odoo/crm/{lead}", label)
        browser.shot(os.path.join(args.out, "chatter.png"), ".o-mail-Chatter")
        browser.click("button[name=action_view_conversation]")
        browser.wait_for(".o_mail_sync_thread")
        browser.shot(os.path.join(args.out, "emails-view.png"))
        browser.goto(f"{args.url}/odoo/mail.sync.account/{mailbox}", ".o_form_sheet")
        browser.shot(os.path.join(args.out, "mailbox.png"))
    finally:
        browser.close()


if __name__ == "__main__":
    main()
