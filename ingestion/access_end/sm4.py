"""SM4 (GB/T 32907-2016) as the access-end protocol uses it to carry an enterprise's password.

Reconstructed from the Yunnan provincial client (REVIEW-2026-12 §9.1, source YN, confidence S):
- key = the first 16 characters of the platform-issued `secretKey`, as ASCII bytes;
- IV  = the first 16 characters of the enterprise's credit code (统一社会信用代码), as ASCII bytes;
- plaintext = a 16-character PIN block: the password's length as two digits, the password, then `F`
  up to 16 characters (so a password has at most 14 characters);
- SM4 in CBC mode without padding (the block is exactly one SM4 block); the ciphertext is sent in hex.

The cipher is the `cryptography` package's SM4; nothing here implements a cipher.
"""

from __future__ import annotations

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

BLOCK = 16
MAX_PASSWORD = 14


class PinBlockError(ValueError):
    """The ciphertext is not an SM4 PIN block under this key (wrong key or corrupted)."""


def _key_iv(secret_key: str, enterprise_code: str) -> tuple[bytes, bytes]:
    key, iv = secret_key[:BLOCK].encode("ascii"), enterprise_code[:BLOCK].encode("ascii")
    if len(key) != BLOCK or len(iv) != BLOCK:
        raise ValueError("secretKey and enterpriseCode must have at least 16 ASCII characters")
    return key, iv


def pin_block(password: str) -> bytes:
    if not 1 <= len(password) <= MAX_PASSWORD or not password.isascii() or not password.isprintable():
        raise ValueError(f"a password has 1 to {MAX_PASSWORD} printable ASCII characters")
    return (f"{len(password):02d}{password}".ljust(BLOCK, "F")).encode("ascii")


def encrypt_password(password: str, secret_key: str, enterprise_code: str) -> str:
    """The hex ciphertext a client sends as `password`."""
    key, iv = _key_iv(secret_key, enterprise_code)
    enc = Cipher(algorithms.SM4(key), modes.CBC(iv)).encryptor()
    return (enc.update(pin_block(password)) + enc.finalize()).hex()


def decrypt_password(ciphertext_hex: str, secret_key: str, enterprise_code: str) -> str:
    """The password inside a PIN block; PinBlockError when the block does not decode (wrong key)."""
    key, iv = _key_iv(secret_key, enterprise_code)
    try:
        data = bytes.fromhex(ciphertext_hex)
    except (TypeError, ValueError) as exc:
        raise PinBlockError("password is not a hex string") from exc
    if len(data) != BLOCK:
        raise PinBlockError(f"password must be one SM4 block ({BLOCK} bytes, {2 * BLOCK} hex characters)")
    dec = Cipher(algorithms.SM4(key), modes.CBC(iv)).decryptor()
    block = dec.update(data) + dec.finalize()
    try:
        text = block.decode("ascii")
    except UnicodeDecodeError as exc:
        raise PinBlockError("not a PIN block under this secretKey") from exc
    if not text[:2].isdigit() or not 1 <= int(text[:2]) <= MAX_PASSWORD:
        raise PinBlockError("not a PIN block under this secretKey")
    n = int(text[:2])
    password, padding = text[2 : 2 + n], text[2 + n :]
    if padding != "F" * (BLOCK - 2 - n) or not password.isprintable():
        raise PinBlockError("not a PIN block under this secretKey")
    return password
