"""The XML WeChat posts and expects back: flat elements, text in CDATA."""

from __future__ import annotations

import xml.etree.ElementTree as ET


class BadXML(ValueError):
    pass


def parse(body: bytes | str) -> dict[str, str]:
    """Top-level elements of a message or event, as strings. Python's expat neither fetches
    external entities nor expands entity bombs past its limits."""
    if isinstance(body, bytes) and b"<!DOCTYPE" in body.upper() or isinstance(body, str) and "<!DOCTYPE" in body.upper():
        raise BadXML("a DOCTYPE has no place in a WeChat message")
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        raise BadXML(str(exc)) from None
    if root.tag != "xml":
        raise BadXML("root element is not <xml>")
    return {child.tag: (child.text or "").strip() if child.tag != "Content" else (child.text or "") for child in root}


def _cdata(value: str) -> str:
    # "]]>" cannot appear inside CDATA: close it and open another around the ">".
    return "<![CDATA[" + value.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def build(fields: dict[str, str | int]) -> str:
    parts = ["<xml>"]
    for name, value in fields.items():
        parts.append(f"<{name}>{value}</{name}>" if isinstance(value, int) else f"<{name}>{_cdata(value)}</{name}>")
    parts.append("</xml>")
    return "".join(parts)


def text_message(to: str, sender: str, content: str, now: int) -> str:
    return build({"ToUserName": to, "FromUserName": sender, "CreateTime": now, "MsgType": "text",
                  "Content": content})


def encrypted_envelope(encrypted: str, signature: str, timestamp: str, nonce: str) -> str:
    return build({"Encrypt": encrypted, "MsgSignature": signature, "TimeStamp": int(timestamp),
                  "Nonce": nonce})
