"""Tests of lib.crypto: secrets at rest."""

import base64

import pytest
from lib.secrets.crypto import SecretKeyError, decrypt, encrypt, generate_key

PASSWORDS = ["hunter2", "pässwörd-ÉÈ€", "пароль", "密码🔑", " spaced  ", "a" * 500]


def test_generate_key_is_fernet_text():
    key = generate_key()
    assert isinstance(key, str)
    assert len(base64.urlsafe_b64decode(key)) == 32
    assert generate_key() != key


@pytest.mark.parametrize("password", PASSWORDS)
def test_round_trip(password):
    key = generate_key()
    token = encrypt(key, password)
    assert isinstance(token, str)
    assert token != password
    assert password not in token
    assert decrypt(key, token) == password


def test_bytes_key_accepted():
    key = generate_key()
    assert decrypt(key.encode(), encrypt(key.encode(), "secret")) == "secret"


def test_two_encryptions_differ():
    key = generate_key()
    assert encrypt(key, "same") != encrypt(key, "same")


@pytest.mark.parametrize("empty", ["", None])
def test_empty_values(empty):
    key = generate_key()
    assert encrypt(key, empty) == ""
    assert decrypt(key, empty) == ""


def test_wrong_key_raises():
    token = encrypt(generate_key(), "pässwörd")
    with pytest.raises(SecretKeyError, match="another key"):
        decrypt(generate_key(), token)


@pytest.mark.parametrize("token", ["garbage", "gAAAAA" + "x" * 80, "ünïcode"])
def test_corrupted_token_raises(token):
    with pytest.raises(SecretKeyError):
        decrypt(generate_key(), token)


@pytest.mark.parametrize("key", ["", "short", "!" * 44, None, "ü" * 44])
def test_malformed_key_raises(key):
    with pytest.raises(SecretKeyError, match="malformed"):
        encrypt(key, "x")
    with pytest.raises(SecretKeyError, match="malformed"):
        decrypt(key, "gAAAAAtoken")


def test_errors_do_not_leak_key_or_plaintext():
    key, other = generate_key(), generate_key()
    token = encrypt(key, "TopSecret")
    with pytest.raises(SecretKeyError) as info:
        decrypt(other, token)
    assert other not in str(info.value)
    assert "TopSecret" not in str(info.value)


def test_secret_key_error_is_an_exception():
    assert issubclass(SecretKeyError, Exception)
