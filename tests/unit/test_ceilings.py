"""The stream benchmark's ceilings: the summaries of Kafka's ConsumerPerformance and of redis-benchmark --csv."""

from __future__ import annotations

import pytest

from bench.ceilings import parse_consumer_performance, parse_redis_benchmark_csv

pytestmark = pytest.mark.unit

HEADER = ("start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, rebalance.time.ms, "
          "fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec")  # fmt: skip
SUMMARY = ("2026-12-06 04:52:32:773, 2026-12-06 04:52:34:145, 3.8995, 2.8422, 20000, 14577.2595, 1158, 214, "
           "18.2218, 93457.9439")  # fmt: skip


def test_consumer_performance_summary_gives_the_fetch_rate_without_the_group_join() -> None:
    measured = parse_consumer_performance(f"{HEADER}\n{SUMMARY}\n")
    assert measured.messages == 20_000
    assert measured.rate == pytest.approx(93457.9439)  # fetch.nMsg.sec
    assert measured.rate_with_join == pytest.approx(14577.2595)  # nMsg.sec
    assert (measured.join_ms, measured.fetch_ms) == (1158, 214)
    assert measured.mb_per_second == pytest.approx(18.2218)


def test_consumer_performance_skips_its_timeout_warning_and_other_lines() -> None:
    warning = ("WARNING: Exiting before consuming the expected number of messages: timeout (10000 ms) exceeded. "
               "You can use the --timeout option to increase the timeout.")  # fmt: skip
    text = f"some log line\n{HEADER}\n{warning}\n{SUMMARY.replace(', 20000,', ', 12000,')}\n"
    assert parse_consumer_performance(text).messages == 12_000


@pytest.mark.parametrize("text", ["", "Exception in thread main\n", f"{HEADER}\n", f"{HEADER}\n1, 2, 3\n",
                                  f"{HEADER}\n{SUMMARY.replace('20000', 'many')}\n"])  # fmt: skip
def test_consumer_performance_output_without_a_summary_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="ConsumerPerformance"):
        parse_consumer_performance(text)


def test_redis_benchmark_csv_of_redis_7_gives_the_rate_and_latencies() -> None:
    text = (
        '"test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms",'
        '"max_latency_ms"\n'
        '"SET bench:__rand_int__ xxxx EX 600","202020.20","21.125","1.936","23.583","28.767","29.135","31.983"\n'
    )
    figures = parse_redis_benchmark_csv(text)
    assert figures["rps"] == pytest.approx(202020.20)
    assert figures["p99_latency_ms"] == pytest.approx(29.135)
    assert len(figures) == 7


def test_redis_benchmark_csv_reads_numbers_from_the_right_whatever_the_test_name_holds() -> None:
    header = '"test","rps","avg_latency_ms"\n'
    assert parse_redis_benchmark_csv(header + '"SET k {"a",1} EX 600","1000.5","0.2"\n')["rps"] == 1000.5


def test_redis_benchmark_csv_of_redis_6_has_no_header() -> None:
    assert parse_redis_benchmark_csv('"SET","123456.78"\n') == {"rps": 123456.78}


@pytest.mark.parametrize("text", ["", '"test","rps"\n', '"SET","fast"\n'])
def test_redis_benchmark_output_without_a_result_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="redis-benchmark"):
        parse_redis_benchmark_csv(text)
