"""Ad posts (core/ads.py): an erid token or an ad label marks one; words about ads in a
sentence do not."""

from __future__ import annotations

import pytest

from core.ads import is_ad


@pytest.mark.parametrize(
    "text",
    [
        "Реклама. ООО «Ромашка», ИНН 7700000000\nЛучшие курсы",
        "Лучшие курсы\n\nРеклама",
        "РЕКЛАМА | ИП Иванов",
        "Курсы Python\nerid: 2VtzqwXyZ1",
        "Скидки! Erid 2VtzqwXyZ1",
        "Купить: https://shop.example/?utm=1&erid=LjN8K8abc",
        "Новый смартфон #реклама",
        "New phone #ad",
        "Great course #Sponsored",
        "Advertisement\nBuy our course",
        "Sponsored: Acme Inc.",
        "На правах рекламы",
        "Партнёрский материал. ООО «Ромашка»",
    ],
)
def test_marked_posts_are_ads(text: str) -> None:
    assert is_ad(text)


@pytest.mark.parametrize(
    "text",
    [
        "Реклама на ТВ подорожала на 20 %",
        "Рынок рекламы вырос",
        "Ad revenue grew 10 % this year",
        "#adventure time",
        "Вериди́кт суда: 5 лет",
        "The period ended",
        "",
        None,
    ],
)
def test_words_about_ads_are_no_ads(text: str | None) -> None:
    assert not is_ad(text)


def test_an_erid_behind_a_text_link_marks_an_ad() -> None:
    entities = [["Bold", 0, 4], ["TextUrl", 5, 5, "https://shop.example/?erid=Kra5AbCdE"]]
    assert is_ad("Жми сюда", entities)
    assert not is_ad("Жми сюда", [["TextUrl", 5, 5, "https://shop.example/?id=5"]])
