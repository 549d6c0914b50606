"""schemathesis hooks of .ci/schemathesis: the refusals a schema-driven fuzzer cannot foresee.

(Both profiles: the testbed API's and the UK Open Banking one's.)

JSON Schema describes each field on its own, not relations between two of them. A transactions
window must run forwards and span at most 366 days, and so must a consent's transaction window;
two dates that are each well formed can break that, and the bank answers 400. Only those
refusals, told by their error `Code` and `Message`, are dropped from the "schema-valid request
rejected" check (`positive_data_acceptance`); the check stays on for everything else, and
schemathesis counts what it dropped. RELIABILITY.md (schemathesis) lists them.
"""

import re

import schemathesis
from schemathesis.openapi.checks import RejectedPositiveData

# (operation, Code, start of Message) of each refusal over a relation between two fields.
RELATIONS = [
    ("GET /accounts/{account}/transactions", "invalid_query", "fromBookingDateTime is after toBookingDateTime"),
    ("GET /accounts/{account}/transactions", "invalid_query", "the window may span at most 366 days"),
    ("POST /account-access-consents", "invalid_date", "TransactionFromDateTime is after TransactionToDateTime"),
    (
        "POST /open-banking/v3.1/aisp/account-access-consents",
        "invalid_date",
        "TransactionFromDateTime is after TransactionToDateTime",
    ),
]
# FDX's window over two dates (`.ci/schemathesis fdx`): a date range that runs backwards or
# spans more than 366 days is FDX's error 703, and no schema relates the two dates.
FDX_RELATIONS = [
    ("GET /fdx/v6/accounts/{accountId}/transactions", "invalid_date_range"),
    ("GET /accounts/{accountId}/transactions", "invalid_date_range"),
]
# OAuth 2.0 refusals over the server's own state (`.ci/schemathesis obie`): a code or a refresh
# token must be one the server issued (and a code is good once), which no schema can say.
OAUTH_STATE = [("POST /token", "invalid_grant")]


# The UK Open Banking standard's form of `x-fapi-auth-date` (its own pattern). Schemathesis's
# coverage phase sends `x-fapi-auth-date: 0` in cases it calls schema-valid; a refusal of a value
# that fails this pattern is the standard's rule kept, not a valid request rejected.
AUTH_DATE = re.compile(
    r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} "
    r"\d{2}:\d{2}:\d{2} (GMT|UTC)$",
    re.ASCII,
)


def refused_auth_date_that_fails_its_pattern(case, body):
    sent = (case.headers or {}).get("x-fapi-auth-date")
    return body.get("Code") == "invalid_header" and sent is not None and not AUTH_DATE.match(sent)


@schemathesis.hook
def filter_failure(context, failure, case, response):
    if not isinstance(failure, RejectedPositiveData) or response.status_code != 400:
        return True
    try:
        body = response.json()
    except ValueError:
        return True
    if any(case.operation.label == operation and body.get("error") == error for operation, error in OAUTH_STATE):
        return False
    if refused_auth_date_that_fails_its_pattern(case, body):
        return False
    debug = str(body.get("debugMessage", ""))
    if any(case.operation.label == operation and debug.startswith(code + ":") for operation, code in FDX_RELATIONS):
        return False
    # A page key must be one the server gave (FDX calls it opaque), which no schema can say.
    if debug.startswith("invalid_query:") and "is not one this server gave" in debug:
        return False
    code, message = body.get("Code"), body.get("Message", "")
    return not any(
        case.operation.label == operation and code == c and message.startswith(m) for operation, c, m in RELATIONS
    )
