"""The pattern users write by hand, for comparison only (never in the package):
await the solve inside process_response. The request keeps its downloader
slot for the whole solve."""

from __future__ import annotations

from scrapy.http import FormRequest

from scrapy_captcha import Solver, detect


class AwaitingMiddleware:
    def __init__(self, crawler):
        self.crawler = crawler
        s = crawler.settings
        self.solver = Solver("sandbox", api_key="bench", api_url=s.get("CAPTCHA_API_URL"))

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    async def process_response(self, request, response, spider=None):
        if request.meta.get("captcha") is False:
            return response
        found = [c for c in detect(response.body, url=response.url, status=response.status) if c.blocking]
        if not found:
            return response
        challenge = found[0]
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

        if request.meta.get("captcha") is False:
            return response
        found = [c for c in detect(response.body, url=response.url, status=response.status) if c.blocking]
        if not found:
            return response
        challenge = found[0]
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
