"""GET /v1/cards?changed_since=&count=: the reconciliation feed, keyset over core's change sequence."""

from __future__ import annotations

from typing import Any

from tests.corebank.conftest import Api, held, new_card
from tests.coreservice import CoreService


def page(api: Api, cursor: str | None = None, count: int | None = None) -> dict[str, Any]:
    params = []
    if cursor is not None:
        params.append(f"changed_since={cursor}")
    if count is not None:
        params.append(f"count={count}")
    response = api.call("GET", "/v1/cards" + ("?" + "&".join(params) if params else ""))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["count"] == len(body["data"])
    return body


def test_changed_since_pages_through_every_card_once_in_change_order(api: Api, core: CoreService) -> None:
    cards = [new_card() for _ in range(7)]
    for card in cards:
        api.issue(card)

    first = page(api, "0", 3)
    second = page(api, first["next_cursor"], 3)
    third = page(api, second["next_cursor"], 3)

    assert [c["token"] for c in first["data"] + second["data"] + third["data"]] == [c["token"] for c in cards]
    assert (first["is_more"], second["is_more"], third["is_more"]) == (True, True, False)
    assert first["next_cursor"] == str(held(core, cards[2]["token"])["seq"])
    assert third["next_cursor"] == str(held(core, cards[6]["token"])["seq"])
    assert page(api)["count"] == 7  # changed_since defaults to 0, count to 1000


def test_an_empty_page_keeps_the_cursor(api: Api) -> None:
    api.issue(new_card())
    last = page(api, "0")

    empty = page(api, last["next_cursor"])
    far = page(api, "999999999999999999")  # the highest cursor the contract allows (18 digits)

    assert empty == {"count": 0, "data": [], "next_cursor": last["next_cursor"], "is_more": False}
    assert far == {"count": 0, "data": [], "next_cursor": "999999999999999999", "is_more": False}


def test_a_card_changed_again_shows_up_again_later_with_its_new_values(api: Api) -> None:
    cards = [new_card() for _ in range(4)]
    for card in cards:
        api.issue(card)
    first = page(api, "0", 2)

    api.transition(cards[0]["token"], "ACTIVE", "00")  # already read: it moves to the end
    api.set_limit(cards[3]["token"], "1.00")  # not read yet: it moves to the end too, once
    rest = page(api, first["next_cursor"])

    assert [c["token"] for c in first["data"]] == [cards[0]["token"], cards[1]["token"]]
    assert [c["token"] for c in rest["data"]] == [cards[2]["token"], cards[0]["token"], cards[3]["token"]]
    assert rest["data"][1]["state"] == "ACTIVE"
    assert rest["data"][2]["usable_limit"] == "1.00"
    assert rest["is_more"] is False


def test_a_change_with_nothing_to_change_does_not_move_the_card(api: Api) -> None:
    card = new_card()
    api.issue(card)
    cursor = page(api, "0")["next_cursor"]

    api.transition(card["token"], "ACTIVE", "00")
    api.transition(card["token"], "ACTIVE", "00")  # already ACTIVE: no change
    after_activation = page(api, cursor)
    api.set_limit(card["token"], card["usable_limit"])
    after_same_limit = page(api, after_activation["next_cursor"])

    assert after_activation["count"] == 1
    assert after_same_limit["count"] == 0
