"""Signatures and message encryption of the Official Account platform.

Plaintext mode signs each request with SHA-1 over the sorted token, timestamp and nonce. Safe
(and compatible) mode adds AES-256-CBC: the key is the 43-character EncodingAESKey decoded from
base64, the IV its first 16 bytes, the plaintext is 16 random bytes, the message length as 4
big-endian bytes, the message and the app id, padded PKCS#7 to 32-byte blocks; `msg_signature`
covers the token, timestamp, nonce and the ciphertext. After the key is changed in WeChat's
console, WeChat encrypts with the new key at once: messages under the previous key are still
accepted while it is configured beside the new one, and a reply is encrypted with the key its
message came in (`decrypt_with_key` says which), so a change has no gap in either order.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import struct
from collections.abc import Sequence

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

BLOCK = 32  # WeChat pads to 32 bytes, not AES's 16


class CryptoError(ValueError):
    """A message that does not decrypt, or is not for this account."""


def sha1_signature(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


def signature_ok(expected: str | None, *parts: str) -> bool:
    return bool(expected) and hmac.compare_digest(sha1_signature(*parts), str(expected).lower())


def aes_key(encoding_aes_key: str) -> bytes:
    """The 43-character EncodingAESKey → 32 key bytes."""
    if len(encoding_aes_key.strip()) != 43:
        raise CryptoError("the EncodingAESKey has 43 characters")
    try:
        key = base64.b64decode(encoding_aes_key.strip() + "=", validate=True)
    except (binascii.Error, ValueError):
        raise CryptoError("EncodingAESKey is not base64") from None
    if len(key) != 32:
        raise CryptoError("EncodingAESKey must be 43 characters (32 bytes)")
    return key


def pad(data: bytes) -> bytes:
    n = BLOCK - len(data) % BLOCK
    return data + bytes([n]) * n


def unpad(data: bytes) -> bytes:
    n = data[-1] if data else 0
    if not 1 <= n <= BLOCK or data[-n:] != bytes([n]) * n:
        raise CryptoError("bad padding")
    return data[:-n]


class MessageCrypto:
    """Decrypts with the current key or the previous one; encrypts with the key asked for (the
    one that decrypted the message being answered; the current one by default)."""

    def __init__(self, token: str, app_id: str, keys: Sequence[str]) -> None:
        if not keys:
            raise CryptoError("no EncodingAESKey")
        self.token, self.app_id = token, app_id
        self.keys = [aes_key(k) for k in keys]

    def encrypt(self, message: str, *, key_index: int = 0, random: bytes | None = None) -> str:
        body = message.encode()
        plain = (random or os.urandom(16)) + struct.pack(">I", len(body)) + body + self.app_id.encode()
        key = self.keys[key_index]
        encryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
        return base64.b64encode(encryptor.update(pad(plain)) + encryptor.finalize()).decode()

    def decrypt(self, encrypted: str) -> str:
        return self.decrypt_with_key(encrypted)[0]

    def decrypt_with_key(self, encrypted: str) -> tuple[str, int]:
        """The message, and the index of the key that decrypted it (0: the current one)."""
        try:
            data = base64.b64decode(encrypted, validate=True)
        except (binascii.Error, ValueError):
            raise CryptoError("ciphertext is not base64") from None
        if not data or len(data) % 16:
            raise CryptoError("ciphertext is not whole blocks")
        for index, key in enumerate(self.keys):
            decryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).decryptor()
            plain = decryptor.update(data) + decryptor.finalize()
            try:
                plain = unpad(plain)
            except CryptoError:
                continue  # another key, perhaps the previous one
            if len(plain) < 20:
                continue
            (length,) = struct.unpack(">I", plain[16:20])
            body, app_id = plain[20 : 20 + length], plain[20 + length :]
            if len(body) == length and app_id.decode(errors="replace") == self.app_id:
                try:
                    return body.decode(), index
                except UnicodeDecodeError:
                    raise CryptoError("the message is not UTF-8") from None
        raise CryptoError("not encrypted for this account")

    def signature(self, timestamp: str, nonce: str, encrypted: str) -> str:
        return sha1_signature(self.token, timestamp, nonce, encrypted)

    def signature_ok(self, expected: str | None, timestamp: str, nonce: str, encrypted: str) -> bool:
        return signature_ok(expected, self.token, timestamp, nonce, encrypted)
