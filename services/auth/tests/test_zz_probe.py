import pytest

CASES = [
    ("/api/v1/auth/login", '{"email":"a@b.co","password":"\\ud800xxxxxxxxxxxxx"}'),
    ("/api/v1/auth/register", '{"email":"a@b.co","password":"\\ud800xxxxxxxxxxxxx","name":"x"}'),
    ("/api/v1/auth/register", '{"email":"a@b.co","password":"\\u0000xxxxxxxxxxxxx","name":"x\\u0000"}'),
    ("/api/v1/auth/login", '{"email":"a@b.co","password":"\\u0000xxxxxxxxxxxxx"}'),
    ("/api/v1/auth/refresh", '{"refresh_token":"\\ud800"}'),
    ("/api/v1/auth/refresh", '{"refresh_token":"\\u0000"}'),
    ("/api/v1/auth/logout", '{"refresh_token":"\\ud800"}'),
]


@pytest.mark.parametrize("path,body", CASES)
def test_probe(client, path, body):
    r = client.post(path, data=body, content_type="application/json")
    print("PROBE", path, body, r.status_code, r.get_data(as_text=True)[:150])
    assert r.status_code < 500
