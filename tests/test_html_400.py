"""A 400 whose body is an HTML page (a proxy or a web server answering the POST, not the LLM API):
a short tag-free excerpt, and it stops the run like not_an_api, since every problem would fail the
same way. A 400 from the API itself (JSON, or plain text) stays one problem's bad request. Real
openai and anthropic SDK clients against the loopback server."""

from __future__ import annotations

import pytest
from llm_server import Reply
from test_auto_acceptance import PAGE, add_problems, assert_short_and_tag_free, rows, run_auto_in_process, write_config

from rel_core.config import ProviderSettings, Settings
from rel_core.providers import ChatMessage, CompletionRequest, LLMClient, ProviderError
from rel_core.providers.base import ErrorKind

EXIT_STOPPED = 1
PATHS = {"openai": "/v1/chat/completions", "anthropic": "/v1/messages"}

# nginx's own page for a request it refuses before any backend sees it.
NGINX_400 = (
    "<html>\r\n<head><title>400 The plain HTTP request was sent to HTTPS port</title></head>\r\n<body>\r\n"
    "<center><h1>400 Bad Request</h1></center>\r\n"
    "<center>The plain HTTP request was sent to HTTPS port</center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)
PAGES = {
    "long page": (PAGE.replace("{status}", "400"), "this server does not do that & never will"),
    "nginx page": (NGINX_400, "The plain HTTP request was sent to HTTPS port"),
}

both = pytest.mark.parametrize("provider", ["openai", "anthropic"])
streamed = pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])


async def failed_call(provider: str, stream: bool) -> ProviderError:
    settings = ProviderSettings(max_retries=2, timeout=10)
    request = CompletionRequest(model=f"{provider}:page-model", messages=[ChatMessage(role="user", content="What is 6 x 7?")])
    async with LLMClient(Settings(openai=settings, anthropic=settings)) as client:
        with pytest.raises(ProviderError) as caught:
            await client.complete(request, on_delta=(lambda _delta: None) if stream else None)
    return caught.value


@both
@streamed
@pytest.mark.parametrize("page", list(PAGES))
async def test_a_400_page_is_not_an_api_with_a_short_tag_free_excerpt(llm_env, provider, stream, page):
    body, text = PAGES[page]
    llm_env.default = Reply(status=400, raw_body=body, headers={"content-type": "text/html"})

    error = await failed_call(provider, stream)

    assert error.kind == ErrorKind.NOT_AN_API and error.fatal and error.status == 400
    assert len(llm_env.requests) == 1  # a 400 is never retried
    message = str(error)
    assert f"(HTTP 400 from {llm_env.url}{PATHS[provider]}: " in message, message
    assert text in message  # what the page says, entities decoded
    assert_short_and_tag_free(message)


@both
@pytest.mark.parametrize(
    "reply",
    [
        Reply.error(400, "max_tokens is too large for this model"),  # the API's own JSON error object
        Reply(status=400, raw_body="max_tokens must be positive", headers={"content-type": "text/plain"}),
        Reply(status=400, raw_body='{"error": "invalid prompt"}', headers={"content-type": "application/json"}),
    ],
    ids=["api error", "plain text", "bare error string"],
)
async def test_a_400_from_the_api_itself_stays_a_bad_request_of_that_call(llm_env, provider, reply):
    llm_env.default = reply

    error = await failed_call(provider, stream=False)

    assert error.kind == ErrorKind.BAD_REQUEST and not error.fatal, str(error)
    assert "request rejected (400: " in str(error)


@both
def test_a_400_page_stops_the_auto_run_at_its_first_answer_and_loses_nothing(tmp_path, llm_env, provider):
    db = tmp_path / "rel.db"
    add_problems(db, ["[H1]", "[H2]", "[H3]"])
    write_config(tmp_path, generator=f"{provider}:acc-gen", critic=f"{provider}:acc-critic")
    llm_env.default = Reply(status=400, raw_body=PAGE.replace("{status}", "400"), headers={"content-type": "text/html"})

    result = run_auto_in_process(db)

    assert result.exit_code == EXIT_STOPPED, result.output
    assert len(llm_env.requests) == 1  # not tried again on the next problem
    [stopped] = [line for line in result.stderr.splitlines() if line.startswith("Error: run stopped:")]
    assert "does not look like an" in stopped and "(HTTP 400 from" in stopped, stopped
    assert_short_and_tag_free(stopped)
    [(error,)] = rows(db, "select error from llm_calls")
    assert_short_and_tag_free(error)
    assert [state for (state,) in rows(db, "select state from problems")] == ["pending"] * 3  # a later run works them
