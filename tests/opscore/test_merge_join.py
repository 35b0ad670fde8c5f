from opscore.merge_join import merge_join


def test_both_sides_are_walked_once_in_key_order_with_gaps_on_either_side():
    log = iter([(1, "a"), (2, "b"), (4, "d")])
    table = iter([(2, "B"), (3, "C"), (4, "D"), (5, "E")])

    joined = list(merge_join(log, table, left_key=lambda x: x[0], right_key=lambda x: x[0]))

    assert joined == [
        (1, (1, "a"), None),
        (2, (2, "b"), (2, "B")),
        (3, None, (3, "C")),
        (4, (4, "d"), (4, "D")),
        (5, None, (5, "E")),
    ]


def test_it_reads_lazily_so_nothing_is_held_ahead():
    pulled = []

    def stream(name, keys):
        for key in keys:
            pulled.append((name, key))
            yield key

    joined = merge_join(
        stream("left", range(1_000_000)),
        stream("right", range(1_000_000)),
        left_key=int,
        right_key=int,
    )
    assert next(joined) == (0, 0, 0)
    assert pulled == [("left", 0), ("right", 0)]


def test_empty_sides():
    assert list(merge_join([], [], left_key=int, right_key=int)) == []
    assert list(merge_join([1], [], left_key=int, right_key=int)) == [(1, 1, None)]
    assert list(merge_join([], [2], left_key=int, right_key=int)) == [(2, None, 2)]
