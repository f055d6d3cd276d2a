"""Input-required rounds: how a 2026-07-28 request asks the client for input.

A tool that elicits, samples or lists roots on the 2026-07-28 wire does not send a request to
the client: it ends with an `InputRequiredResult` naming what it needs, and the client calls
again with the answers and the sealed `requestState`. These functions run both halves; the
legacy wire's real server-to-client requests are `Session.request`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import INTERNAL_ERROR, MISSING_CAPABILITY, McpError, invalid_params

if TYPE_CHECKING:
    from .session import Request
    from .state import StateSigner

#: The client capability each server-to-client request needs.
CAPABILITY_OF = {
    "elicitation/create": "elicitation",
    "sampling/createMessage": "sampling",
    "roots/list": "roots",
}
#: The methods whose handlers may ask the client for input.
INPUT_METHODS = frozenset({"tools/call", "prompts/get", "resources/read"})
# Keys of the request's state that are ours, never the plugin's.
_OWN_STATE = ("_answers", "_asked")


class InputRequired(BaseException):
    """Raised inside a 2026-07-28 request that needs answers from the client first.

    A BaseException, so a plugin's ``except Exception`` does not swallow it.
    """

    def __init__(self, requests: dict[str, dict[str, Any]], answers: dict[str, Any]) -> None:
        self.requests = requests
        self.answers = answers


async def input_required(
    req: Request, requests: dict[str, tuple[str, dict[str, Any]]], one: bool = False
) -> Any:
    """Answers for `requests` (``{key: (method, params)}``) from this round, or an
    input-required round asking for the missing ones. `one`: return the single answer."""
    if req.method not in INPUT_METHODS:
        raise McpError(INTERNAL_ERROR, f"{req.method} cannot ask the client for input")
    answers = req.input_responses if req.input_responses is not None else {}
    found: dict[str, Any] = {}
    missing: dict[str, dict[str, Any]] = {}
    for key, (method, params) in requests.items():
        capability = CAPABILITY_OF[method]
        if capability not in req.client_capabilities:
            raise McpError(
                MISSING_CAPABILITY,
                f"This request needs the client's {capability!r} capability ({method})",
                {"requiredCapabilities": {capability: {}}},
            )
        answer = answers.get(key)
        if valid_answer(method, answer):
            found[key] = answer
        else:
            missing[key] = {"method": method, "params": params}
    used = req.state if req.state is not None else {}
    used.setdefault("_answers", {}).update(found)
    req.state = used
    if missing:
        raise InputRequired(missing, used["_answers"])
    return found[next(iter(found))] if one else found


def next_key(req: Request) -> str:
    """A key for an input request the plugin did not name: ``input_0``, ``input_1``, ..."""
    state = req.state if req.state is not None else {}
    count = state.get("_asked", 0)
    state["_asked"] = count + 1
    req.state = state
    return f"input_{count}"


def valid_answer(method: str, answer: Any) -> bool:
    """Whether `answer` has the shape of a result of `method` (else it is asked again)."""
    if not isinstance(answer, dict):
        return False
    if method == "elicitation/create":
        return answer.get("action") in ("accept", "decline", "cancel")
    if method == "sampling/createMessage":
        return isinstance(answer.get("content"), dict | list)
    return isinstance(answer.get("roots"), list)


def take_inputs(req: Request, signer: StateSigner) -> None:
    """Load a retry's answers and verified `requestState` into the request (2026-07-28)."""
    if not req.modern:
        return
    responses = req.params.get("inputResponses")
    state = req.params.get("requestState")
    if responses is not None and not isinstance(responses, dict):
        raise invalid_params("inputResponses must be an object keyed by input request")
    answers: dict[str, Any] = {}
    if state is not None:
        body = signer.open(state, binding(req))
        answers.update(body.get("a", {}))
        req.state = body.get("s")
    if responses:
        answers.update(responses)
    req.input_responses = answers


def input_required_result(
    req: Request, needed: InputRequired, signer: StateSigner
) -> dict[str, Any]:
    """The `InputRequiredResult` for `needed`, with the answers so far and the plugin's
    state sealed into `requestState`."""
    user_state = {k: v for k, v in (req.state or {}).items() if k not in _OWN_STATE}
    payload: dict[str, Any] = {"a": needed.answers}
    if user_state:
        payload["s"] = user_state
    return {
        "resultType": "input_required",
        "inputRequests": needed.requests,
        "requestState": signer.seal(payload, binding(req)),
    }


def binding(req: Request) -> str:
    """What a `requestState` is bound to: the method, its target and the caller."""
    target = req.params.get("name") or req.params.get("uri") or ""
    subject = getattr(req.principal, "subject", "") if req.principal is not None else ""
    return f"{req.method}|{target}|{subject}"
