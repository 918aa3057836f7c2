"""Safe-mode encryption and signatures, checked against an independent implementation
(wechatpy's), and the tampering each check must catch."""

from __future__ import annotations

import base64
import os

import pytest
from wechatpy.crypto import WeChatCrypto
from wechatpy.utils import check_signature as wechatpy_check_signature

from handlers.wechat import xml
from handlers.wechat.crypto import CryptoError, MessageCrypto, sha1_signature, signature_ok

TOKEN, APP_ID = "lovebank-token", "wx1234567890abcdef"


def new_key() -> str:
    return base64.b64encode(os.urandom(32)).decode().rstrip("=")


KEY, OLD_KEY = new_key(), new_key()
MESSAGE = "<xml><ToUserName><![CDATA[gh_1]]></ToUserName><Content><![CDATA[你好 /balance]]></Content></xml>"


def test_plain_signature_matches_wechatpy() -> None:
    signature = sha1_signature(TOKEN, "1700000000", "nonce42")
    wechatpy_check_signature(TOKEN, signature, "1700000000", "nonce42")  # raises when wrong
    assert signature_ok(signature, TOKEN, "1700000000", "nonce42")
    assert not signature_ok(signature, TOKEN, "1700000001", "nonce42")
    assert not signature_ok("", TOKEN, "1700000000", "nonce42")


def test_wechatpy_encrypts_we_decrypt() -> None:
    envelope = WeChatCrypto(TOKEN, KEY, APP_ID).encrypt_message(MESSAGE, "n0nce", "1700000000")
    fields = xml.parse(envelope)
    ours = MessageCrypto(TOKEN, APP_ID, [KEY])
    assert ours.signature_ok(fields["MsgSignature"], fields["TimeStamp"], fields["Nonce"], fields["Encrypt"])
    assert ours.decrypt(fields["Encrypt"]) == MESSAGE


def test_we_encrypt_wechatpy_decrypts() -> None:
    ours = MessageCrypto(TOKEN, APP_ID, [KEY])
    for message in (MESSAGE, "", "x" * 31, "y" * 32, "长" * 1000):  # around the 32-byte padding block
        encrypted = ours.encrypt(message)
        envelope = xml.encrypted_envelope(
            encrypted, ours.signature("1700000000", "abc", encrypted), "1700000000", "abc"
        )
        fields = xml.parse(envelope)
        decrypted = WeChatCrypto(TOKEN, KEY, APP_ID).decrypt_message(
            envelope, fields["MsgSignature"], "1700000000", "abc"
        )
        assert decrypted == message


def test_previous_key_still_accepted_and_answered_under_it() -> None:
    old = WeChatCrypto(TOKEN, OLD_KEY, APP_ID).encrypt_message(MESSAGE, "n", "1700000000")
    rotated = MessageCrypto(TOKEN, APP_ID, [KEY, OLD_KEY])
    assert rotated.decrypt_with_key(xml.parse(old)["Encrypt"]) == (MESSAGE, 1)
    with pytest.raises(CryptoError):
        MessageCrypto(TOKEN, APP_ID, [KEY]).decrypt(xml.parse(old)["Encrypt"])
    # The reply to it, under the key it came in: WeChat (here wechatpy) still on the old key reads it.
    reply = rotated.encrypt(MESSAGE, key_index=1)
    envelope = xml.encrypted_envelope(reply, rotated.signature("1700000000", "abc", reply), "1700000000", "abc")
    assert (
        WeChatCrypto(TOKEN, OLD_KEY, APP_ID).decrypt_message(
            envelope, xml.parse(envelope)["MsgSignature"], "1700000000", "abc"
        )
        == MESSAGE
    )
    new = WeChatCrypto(TOKEN, KEY, APP_ID).encrypt_message(MESSAGE, "n", "1700000000")
    assert rotated.decrypt_with_key(xml.parse(new)["Encrypt"]) == (MESSAGE, 0)
    assert MessageCrypto(TOKEN, APP_ID, [KEY]).decrypt(rotated.encrypt("ok")) == "ok"


def test_other_account_tampered_and_garbage_refused() -> None:
    encrypted = WeChatCrypto(TOKEN, KEY, "wxsomeoneelse0000").encrypt_message(MESSAGE, "n", "1")
    ours = MessageCrypto(TOKEN, APP_ID, [KEY])
    with pytest.raises(CryptoError):
        ours.decrypt(xml.parse(encrypted)["Encrypt"])
    good = ours.encrypt(MESSAGE)
    raw = bytearray(base64.b64decode(good))
    raw[-1] ^= 0x55  # the padding no longer checks out
    for bad in (base64.b64encode(bytes(raw)).decode(), "not base64!", base64.b64encode(b"short").decode(), ""):
        with pytest.raises(CryptoError):
            ours.decrypt(bad)
    assert not ours.signature_ok(ours.signature("1", "n", good), "1", "n", good[:-4] + "AAAA")
    with pytest.raises(CryptoError):
        MessageCrypto(TOKEN, APP_ID, ["tooshort"])


def test_xml_refuses_doctype_and_keeps_content_verbatim() -> None:
    with pytest.raises(xml.BadXML):
        xml.parse('<!DOCTYPE x [<!ENTITY a "b">]><xml><Content>&a;</Content></xml>')
    doctype_in_utf16 = '<!DOCTYPE x [<!ENTITY a "b">]><xml><Content>&a;</Content></xml>'
    for encoding in ("utf-16", "utf-16-le", "utf-16-be", "utf-32"):
        with pytest.raises(xml.BadXML, match="UTF-8"):
            xml.parse(doctype_in_utf16.encode(encoding))
    for declared in ("GBK", "gb2312", "ISO-8859-1", "no-such-encoding", ""):
        with pytest.raises(xml.BadXML, match="UTF-8"):
            xml.parse(f"<?xml version='1.0' encoding='{declared}'?><xml><Content>x</Content></xml>".encode())
    assert xml.parse('<?xml version="1.0" encoding="utf-8"?><xml><Content>好</Content></xml>'.encode()) == {
        "Content": "好"
    }
    with pytest.raises(xml.BadXML):
        xml.parse("<xml><Content>")
    built = xml.text_message("o1", "gh", "a ]]> b\n 2 ", 1)
    assert xml.parse(built)["Content"] == "a ]]> b\n 2 "
