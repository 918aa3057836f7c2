"""The XML WeChat posts and expects back: flat elements, text in CDATA."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET


class BadXML(ValueError):
    pass


# The XML declaration's encoding, if it names one: WeChat sends UTF-8 and nothing else is read.
_DECLARED = re.compile(r"""\A(?:\ufeff)?<\?xml[^>]*?\bencoding\s*=\s*["']([^"']*)["']""")


def parse(body: bytes | str) -> dict[str, str]:
    """Top-level elements of a message or event, as strings. Only UTF-8 is read (bytes that are
    not UTF-8, or a declaration naming another encoding, are refused rather than guessed at) and
    a DOCTYPE has no place in a WeChat message: without one there are no entities to expand."""
    if isinstance(body, bytes):
        try:
            body = body.decode("utf-8")
        except UnicodeDecodeError:
            raise BadXML("not UTF-8") from None
    if "\x00" in body:  # never in XML; UTF-16 without its byte-order mark is valid UTF-8 otherwise
        raise BadXML("not UTF-8")
    declared = _DECLARED.match(body)
    if declared and declared.group(1).strip().lower() not in ("utf-8", "utf8"):
        raise BadXML("not UTF-8")
    if "<!DOCTYPE" in body.upper() or "<!ENTITY" in body.upper():
        raise BadXML("a DOCTYPE has no place in a WeChat message")
    parser = ET.XMLParser(encoding="utf-8")  # whatever the text declares, it was decoded as UTF-8
    try:
        parser.feed(body.encode("utf-8"))
        root = parser.close()
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
    return build({"ToUserName": to, "FromUserName": sender, "CreateTime": now, "MsgType": "text", "Content": content})


def encrypted_envelope(encrypted: str, signature: str, timestamp: str, nonce: str) -> str:
    return build({"Encrypt": encrypted, "MsgSignature": signature, "TimeStamp": int(timestamp), "Nonce": nonce})
