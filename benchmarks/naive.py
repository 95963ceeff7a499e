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
