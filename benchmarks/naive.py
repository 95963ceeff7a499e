"""The pattern users write by hand, for comparison only (never in the package):
await the solve inside process_response. The request keeps its downloader
slot for the whole solve."""

from __future__ import annotations

from scrapy.http import FormRequest

from scrapy_captcha import Challenge, Solver, detect


def blocking_challenge(request, response) -> Challenge | None:
    """What both naive middlewares solve: the first blocking challenge, unless opted out."""
    if request.meta.get("captcha") is False:
        return None
    found = [c for c in detect(response.body, url=response.url, status=response.status) if c.blocking]
    return found[0] if found else None


class AwaitingMiddleware:
    def __init__(self, crawler):
        self.crawler = crawler
        s = crawler.settings
        self.solver = Solver("sandbox", api_key="bench", api_url=s.get("CAPTCHA_API_URL"))

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    async def process_response(self, request, response, spider=None):
        challenge = blocking_challenge(request, response)
        if challenge is None:
            return response
        solution = await self.solver.solve(challenge)
        form = challenge.form
        submit = FormRequest(form.action, formdata=list(form.fields) + [("g-recaptcha-response", solution.token)],
                             meta={"captcha": False, "dont_redirect": True, "handle_httpstatus_all": True,
                                   "cookiejar": request.meta.get("cookiejar")}, dont_filter=True)
        await self.crawler.engine.download_async(submit)
        return request.replace(dont_filter=True)


class SyncSDKMiddleware:
    """What a synchronous SDK in a middleware does: blocking HTTP and time.sleep
    polling on a fixed 3 s timer. The whole reactor stops for each solve."""

    def __init__(self, crawler):
        self.api_url = crawler.settings.get("CAPTCHA_API_URL")

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    def _call(self, path, payload):
        import json
        import urllib.request

        req = urllib.request.Request(self.api_url + path, data=json.dumps(payload).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as reply:
            return json.loads(reply.read())

    def process_response(self, request, response, spider=None):
        import time

        challenge = blocking_challenge(request, response)
        if challenge is None:
            return response
        task = self._call("/createTask", {"clientKey": "bench", "task": {
            "type": "NoCaptchaTaskProxyless", "websiteURL": challenge.page_url, "websiteKey": challenge.sitekey}})
        while True:
            time.sleep(3)
            result = self._call("/getTaskResult", {"clientKey": "bench", "taskId": task["taskId"]})
            if result.get("status") == "ready":
                break
        token = result["solution"]["gRecaptchaResponse"]
        form = challenge.form
        # The submission redirects back to the page: its response goes to the spider.
        return FormRequest(form.action, formdata=list(form.fields) + [("g-recaptcha-response", token)],
                           meta={**request.meta, "captcha": False}, callback=request.callback,
                           dont_filter=True)
