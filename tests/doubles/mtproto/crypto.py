"""Server side of MTProto's crypto: the test RSA key, the auth-key handshake,
MTProto 2.0 message encryption, and the SRP check of 2FA passwords.

Everything reuses Telethon's own primitives (AES-IGE, AuthKey, the key
derivation of MTProtoState, telethon.password) so the two sides agree by
construction.
"""

from __future__ import annotations

import hashlib
import os
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import rsa as pyrsa
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from telethon import helpers
from telethon import password as tpassword
from telethon.crypto import AES, AuthKey
from telethon.crypto import rsa as trsa
from telethon.extensions import BinaryReader
from telethon.network.mtprotostate import MTProtoState
from telethon.tl import TLObject, functions, types

from .tlbuild import build

PACKAGE_DIR = Path(__file__).resolve().parent
PRIVATE_KEY_PATH = PACKAGE_DIR / "test_server_key.pem"
PUBLIC_KEY_PATH = PACKAGE_DIR / "test_server_key.pub.pem"

# Telegram's well-known 2048-bit safe prime (the one telethon.password accepts
# without factorising), used with g=3 for both the handshake and SRP.
DH_PRIME = int(
    "C71CAEB9C6B1C9048E6C522F70F13F73980D40238E3E21C14934D037563D930F"
    "48198A0AA7C14058229493D22530F4DBFA336F6E0AC925139543AED44CCE7C37"
    "20FD51F69458705AC68CD4FE6B6B13ABDC9746512969328454F18FAF8C595F64"
    "2477FE96BB2A941D5BCD1D4AC8CC49880708FA9B378E3C4F3A9060BEE67CF9A4"
    "A4A69581105190"
    "7E162753B56B0F6B410DBA74D8A84B2A14B3144E0EF1284754"
    "FD17ED950D5965B4B9DD46582DB1178D169C6BC465B0D6FF9CA3928FEF5B9AE4"
    "E418FC15E83EBEA0F87FA9FF5EED70050DED2849F47BF959D956850CE929851F"
    "0D8115F635B105EE2E4E15D04B2454BF6F4FADF034B10403119CD8E3B92FCC5B",
    16,
)
DH_G = 3
DH_PRIME_BYTES = DH_PRIME.to_bytes(256, "big")
# The pq of Telegram's documentation example: small primes Telethon factorises fast.
PQ_P, PQ_Q = 1229739323, 1402015859


class ServerRSAKey:
    """The double's RSA key pair; `fingerprint` is what ResPQ advertises."""

    def __init__(self, private_pem: bytes, public_pem: bytes) -> None:
        key = serialization.load_pem_private_key(private_pem, password=None)
        if not isinstance(key, RSAPrivateKey):
            raise TypeError("an RSA private key is required")
        numbers = key.private_numbers()
        self.n = numbers.public_numbers.n
        self.e = numbers.public_numbers.e
        self.d = numbers.d
        self.public_pem = public_pem
        self.fingerprint: int = trsa._compute_fingerprint(pyrsa.PublicKey.load_pkcs1(public_pem))

    @classmethod
    def load(
        cls, private_path: Path = PRIVATE_KEY_PATH, public_path: Path = PUBLIC_KEY_PATH
    ) -> ServerRSAKey:
        return cls(private_path.read_bytes(), public_path.read_bytes())

    def decrypt_raw(self, data: bytes) -> bytes:
        return pow(int.from_bytes(data, "big"), self.d, self.n).to_bytes(256, "big")


def _parse_inner(data: bytes) -> tuple[TLObject, int]:
    reader = BinaryReader(data)
    obj = reader.tgread_object()
    return obj, reader.tell_position()


def decrypt_inner_data(key: ServerRSAKey, encrypted: bytes) -> TLObject:
    """Decrypt p_q_inner_data sent either the legacy way or with RSA_PAD."""
    plain = key.decrypt_raw(encrypted)
    # Legacy: sha1(data) + data + random padding to 255 bytes (Telethon 1.45).
    legacy = plain[1:]
    try:
        obj, used = _parse_inner(legacy[20:])
        if hashlib.sha1(legacy[20 : 20 + used]).digest() == legacy[:20]:
            return obj
    except Exception:
        pass
    # RSA_PAD: temp_key_xor (32) + AES-IGE(reversed(data_with_padding) + sha256).
    temp_key_xor, aes_encrypted = plain[:32], plain[32:]
    digest = hashlib.sha256(aes_encrypted).digest()
    temp_key = bytes(a ^ b for a, b in zip(temp_key_xor, digest, strict=True))
    data_with_hash = AES.decrypt_ige(aes_encrypted, temp_key, bytes(32))
    data_with_padding = data_with_hash[:192][::-1]
    if hashlib.sha256(temp_key + data_with_padding).digest() != data_with_hash[192:]:
        raise ValueError("RSA-encrypted inner data failed both padding checks")
    obj, _used = _parse_inner(data_with_padding)
    return obj


@dataclass
class _DhState:
    nonce: int
    server_nonce: int
    new_nonce: int = 0
    a: int = 0


class Handshake:
    """Answers the three plain-text steps that create an auth key."""

    def __init__(self, key: ServerRSAKey, clock: Callable[[], float] = time.time) -> None:
        self.key = key
        self._clock = clock  # the server's clock: server_time tells the client its offset
        self._states: dict[int, _DhState] = {}

    def handle(self, request: TLObject) -> tuple[TLObject, AuthKey | None]:
        if isinstance(request, functions.ReqPqMultiRequest | functions.ReqPqRequest):
            state = _DhState(request.nonce, int.from_bytes(os.urandom(16), "big", signed=True))
            self._states[state.nonce] = state
            pq = trsa.get_byte_array(PQ_P * PQ_Q)
            answer = build(
                types.ResPQ,
                nonce=state.nonce,
                server_nonce=state.server_nonce,
                pq=pq,
                server_public_key_fingerprints=[self.key.fingerprint],
            )
            return answer, None
        if isinstance(request, functions.ReqDHParamsRequest):
            return self._dh_params(request), None
        if isinstance(request, functions.SetClientDHParamsRequest):
            return self._client_dh(request)
        raise ValueError(f"unexpected plain-text message {type(request).__name__}")

    def _state(self, nonce: int, server_nonce: int) -> _DhState:
        state = self._states.get(nonce)
        if state is None or state.server_nonce != server_nonce:
            raise ValueError("handshake nonce mismatch")
        return state

    def _dh_params(self, request: functions.ReqDHParamsRequest) -> TLObject:
        state = self._state(request.nonce, request.server_nonce)
        if request.public_key_fingerprint != self.key.fingerprint:
            raise ValueError("client used an unknown RSA key fingerprint")
        inner = decrypt_inner_data(self.key, request.encrypted_data)
        if getattr(inner, "nonce", None) != state.nonce:
            raise ValueError("p_q_inner_data nonce mismatch")
        if trsa.get_byte_array(PQ_P) != request.p or trsa.get_byte_array(PQ_Q) != request.q:
            raise ValueError("client factorised pq wrongly")
        state.new_nonce = inner.new_nonce
        safety = 2 ** (2048 - 64)
        while True:
            state.a = int.from_bytes(os.urandom(256), "big")
            g_a = pow(DH_G, state.a, DH_PRIME)
            if safety <= g_a <= DH_PRIME - safety:
                break
        answer = bytes(
            build(
                types.ServerDHInnerData,
                nonce=state.nonce,
                server_nonce=state.server_nonce,
                g=DH_G,
                dh_prime=DH_PRIME_BYTES,
                g_a=trsa.get_byte_array(g_a),
                server_time=int(self._clock()),
            )
        )
        with_hash = hashlib.sha1(answer).digest() + answer
        with_hash += os.urandom(-len(with_hash) % 16)
        key, iv = helpers.generate_key_data_from_nonce(state.server_nonce, state.new_nonce)
        return build(
            types.ServerDHParamsOk,
            nonce=state.nonce,
            server_nonce=state.server_nonce,
            encrypted_answer=AES.encrypt_ige(with_hash, key, iv),
        )

    def _client_dh(
        self, request: functions.SetClientDHParamsRequest
    ) -> tuple[TLObject, AuthKey | None]:
        state = self._state(request.nonce, request.server_nonce)
        key, iv = helpers.generate_key_data_from_nonce(state.server_nonce, state.new_nonce)
        plain = AES.decrypt_ige(request.encrypted_data, key, iv)
        inner, used = _parse_inner(plain[20:])
        if hashlib.sha1(plain[20 : 20 + used]).digest() != plain[:20]:
            raise ValueError("client_DH_inner_data hash mismatch")
        if not isinstance(inner, types.ClientDHInnerData) or inner.nonce != state.nonce:
            raise ValueError("bad client_DH_inner_data")
        g_b = int.from_bytes(inner.g_b, "big")
        auth_key = AuthKey(auth_key_bytes(pow(g_b, state.a, DH_PRIME)))
        del self._states[state.nonce]
        answer = build(
            types.DhGenOk,
            nonce=state.nonce,
            server_nonce=state.server_nonce,
            new_nonce_hash1=auth_key.calc_new_nonce_hash(state.new_nonce, 1),
        )
        return answer, auth_key


def auth_key_bytes(shared: int) -> bytes:
    """The auth key from the DH secret g^(ab) mod dh_prime: always 2048 bits, 256 bytes
    big-endian with its leading zero bytes, as Telegram keeps it
    (https://core.telegram.org/mtproto/auth_key, "auth_key = pow(g, {ab}, dh_prime)";
    a session string stores 256 bytes). Telethon's client drops leading zeros
    (`rsa.get_byte_array`), so once in 256 handshakes its key is one byte short: its
    new_nonce_hash1 check then fails and it makes a new key, as it does against
    Telegram. A double keeping the short key accepted that handshake, and the session
    saved from it (zero-padded to 256 bytes, another key id) was unknown to it: -404."""
    return shared.to_bytes(256, "big")


# -- MTProto 2.0 encrypted messages ------------------------------------------------


@dataclass(slots=True)
class Decrypted:
    salt: int
    session_id: int
    msg_id: int
    seq_no: int
    body: bytes


def decrypt_client_message(auth_key: AuthKey, packet: bytes) -> Decrypted:
    """Decrypt a client->server message (key_id already matched by the caller)."""
    msg_key = packet[8:24]
    aes_key, aes_iv = MTProtoState._calc_key(auth_key.key, msg_key, True)
    plain = AES.decrypt_ige(packet[24:], aes_key, aes_iv)
    if hashlib.sha256(auth_key.key[88 : 88 + 32] + plain).digest()[8:24] != msg_key:
        raise ValueError("msg_key mismatch")
    salt, session_id, msg_id, seq_no, length = struct.unpack_from("<qqqii", plain)
    if length < 0 or 32 + length > len(plain):
        raise ValueError("bad inner message length")
    return Decrypted(salt, session_id, msg_id, seq_no, plain[32 : 32 + length])


def encrypt_server_message(
    auth_key: AuthKey, salt: int, session_id: int, msg_id: int, seq_no: int, body: bytes
) -> bytes:
    data = struct.pack("<qqqii", salt, session_id, msg_id, seq_no, len(body)) + body
    data += os.urandom(-(len(data) + 12) % 16 + 12)
    msg_key = hashlib.sha256(auth_key.key[96 : 96 + 32] + data).digest()[8:24]
    aes_key, aes_iv = MTProtoState._calc_key(auth_key.key, msg_key, False)
    return struct.pack("<Q", auth_key.key_id) + msg_key + AES.encrypt_ige(data, aes_key, aes_iv)


# -- SRP (2FA) ---------------------------------------------------------------------

_sha256 = tpassword.sha256


def kdf_algo(salt1: bytes, salt2: bytes) -> TLObject:
    cls = types.PasswordKdfAlgoSHA256SHA256PBKDF2HMACSHA512iter100000SHA256ModPow
    return build(cls, salt1=salt1, salt2=salt2, g=DH_G, p=DH_PRIME_BYTES)


def password_verifier(salt1: bytes, salt2: bytes, password: str) -> int:
    """v = g^x mod p with x = telethon.password.compute_hash(...)."""
    x = int.from_bytes(tpassword.compute_hash(kdf_algo(salt1, salt2), password), "big")
    return pow(DH_G, x, DH_PRIME)


@dataclass(slots=True)
class SrpChallenge:
    srp_id: int
    b: int
    srp_b: bytes


def srp_challenge(verifier: int) -> SrpChallenge:
    """B = k*v + g^b mod p, as the server side of Telegram's SRP."""
    p_bytes = DH_PRIME_BYTES
    k = int.from_bytes(_sha256(p_bytes, tpassword.big_num_for_hash(DH_G)), "big")
    while True:
        b = int.from_bytes(os.urandom(256), "big")
        g_b = pow(DH_G, b, DH_PRIME)
        if tpassword.is_good_mod_exp_first(g_b, DH_PRIME):
            break
    big_b = (k * verifier + g_b) % DH_PRIME
    srp_id = int.from_bytes(os.urandom(8), "big", signed=True)
    return SrpChallenge(srp_id, b, big_b.to_bytes(256, "big"))


def srp_check(
    challenge: SrpChallenge, verifier: int, salt1: bytes, salt2: bytes, a_bytes: bytes, m1: bytes
) -> bool:
    """Verify the client's M1 exactly as telethon.password.compute_check builds it."""
    a_int = int.from_bytes(a_bytes, "big")
    if not 0 < a_int < DH_PRIME:
        return False
    a_for_hash = tpassword.num_bytes_for_hash(a_bytes)
    b_for_hash = tpassword.num_bytes_for_hash(challenge.srp_b)
    u = int.from_bytes(_sha256(a_for_hash, b_for_hash), "big")
    s = pow(a_int * pow(verifier, u, DH_PRIME) % DH_PRIME, challenge.b, DH_PRIME)
    k_hash = _sha256(tpassword.big_num_for_hash(s))
    p_for_hash = tpassword.num_bytes_for_hash(DH_PRIME_BYTES)
    g_for_hash = tpassword.big_num_for_hash(DH_G)
    expected = _sha256(
        tpassword.xor(_sha256(p_for_hash), _sha256(g_for_hash)),
        _sha256(salt1),
        _sha256(salt2),
        a_for_hash,
        b_for_hash,
        k_hash,
    )
    return expected == m1
