"""`GET /verify/<number>?k=<check>` on `lovebank serve`: anyone holding a printed certificate's QR
code sees whether it is genuine and still valid, without logging in. A small HTML page for a
phone, in Chinese (English when the browser asks for it first). An unknown number and a wrong
check value get the same 404 page, which says nothing about either."""

from __future__ import annotations

from html import escape

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from bot.certificates.service import ROUTE, Verified, hours_text
from bot.kernel.i18n import render
from handlers.web import Web

PAGE = """<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{title}</title>
<style>
body{{font-family:system-ui,-apple-system,"PingFang SC","Noto Sans CJK SC","Microsoft YaHei",sans-serif;
margin:0;padding:1.2rem;background:#faf7f5;color:#222;line-height:1.5}}
main{{max-width:32rem;margin:auto;background:#fff;border-radius:.6rem;padding:1.2rem;
box-shadow:0 1px 4px rgba(0,0,0,.12)}}
h1{{font-size:1.25rem;color:#c0392b;margin:0 0 1rem}}
.status{{font-size:1.2rem;font-weight:bold;margin-bottom:1rem}}
dl{{margin:0}}dt{{color:#777;font-size:.85rem}}dd{{margin:0 0 .7rem;font-size:1.05rem;word-break:break-all}}
p{{color:#777;font-size:.85rem}}
</style></head>
<body><main><h1>{title}</h1>{body}</main></body></html>
"""


def _locale(request: Request) -> str:
    first = request.headers.get("accept-language", "").split(",")[0].strip().lower()
    return "en" if first.startswith("en") else "zh-CN"


def _page(locale: str, body: str, status: int) -> Response:
    title = escape(render(locale, "verify.title"))
    return HTMLResponse(
        PAGE.format(lang="en" if locale == "en" else "zh-CN", title=title, body=body),
        status_code=status,
        headers={"Cache-Control": "no-store"},
    )


def _facts(locale: str, v: Verified) -> str:
    def t(key: str, **params: object) -> str:
        return escape(render(locale, key, params))

    period = (
        render(locale, "certificate.period_all", {"end": v.period.end.isoformat()})
        if v.period.start is None
        else render(
            locale, "certificate.period", {"start": v.period.start.isoformat(), "end": v.period.end.isoformat()}
        )
    )
    status = (
        render(locale, "verify.revoked", {"date": v.revoked_on.isoformat() if v.revoked_on else ""})
        if v.revoked
        else render(locale, "verify.valid")
    )
    rows = [
        ("verify.number", v.number),
        ("verify.name", v.masked_name),
        ("verify.period", period),
        ("verify.hours", render(locale, "verify.hours_value", {"hours": hours_text(v.minutes)})),
        ("verify.issuer", v.issuer),
        ("verify.issued_on", v.issued_on.isoformat()),
    ]
    items = "".join(f"<dt>{t(key)}</dt><dd>{escape(value)}</dd>" for key, value in rows)
    return f'<div class="status">{t("verify.status", status=status)}</div><dl>{items}</dl><p>{t("verify.note")}</p>'


def setup(web: Web) -> None:
    services = web.services

    async def verify(request: Request) -> Response:
        locale = _locale(request)
        found = await services.run(
            services.certificates.verify, request.path_params["number"], request.query_params.get("k", "")
        )
        if found is None:
            return _page(locale, f"<p>{escape(render(locale, 'verify.not_found'))}</p>", 404)
        return _page(locale, _facts(locale, found), 200)

    web.route(ROUTE + "{number}", verify, methods=["GET"])
