"""The smart render's plan on made-up GOP layouts: which frames are kept, copied, encoded and checked.

No media is read: every expected frame number can be worked out by hand from the layout.
"""

from fractions import Fraction

import pytest

from jobs.errors import MediaError
from jobs.render.plan import (
    JOIN_FRAMES,
    Gops,
    Piece,
    frame_ranges,
    full_work,
    join_windows,
    plan_smart,
    smart_work,
    snap_to_gops,
    split_frames,
)

# Ten GOPs of ten frames: keyframes at 0, 10, …, 90; frames 0..99.
TEN_BY_TEN = Gops(keyframes=tuple(range(0, 100, 10)), frames=100)
# The same, but the last GOP is cut short: frames 90..94.
SHORT_LAST = Gops(keyframes=tuple(range(0, 100, 10)), frames=95)
FILM = Fraction(24000, 1001)  # "23.976"
NTSC = Fraction(30000, 1001)  # "29.97"


def test_cuts_on_keyframes_copy_everything():
    plan = plan_smart([(10, 30), (50, 70)], TEN_BY_TEN)

    assert plan.pieces == [Piece(10, 30, copy=True), Piece(50, 70, copy=True)]
    assert (plan.copy_frames, plan.encode_frames, plan.restarts) == (40, 0, 0)


def test_a_cut_mid_gop_encodes_only_the_partial_gops():
    plan = plan_smart([(15, 47)], TEN_BY_TEN)

    # 15..19 finish the GOP at 10, 20..39 are two whole GOPs, 40..46 start the GOP at 40.
    assert plan.pieces == [Piece(15, 20, copy=False), Piece(20, 40, copy=True), Piece(40, 47, copy=False)]
    assert (plan.copy_frames, plan.encode_frames, plan.restarts) == (20, 12, 2)


def test_a_range_inside_one_gop_is_encoded_whole():
    plan = plan_smart([(12, 18)], TEN_BY_TEN)

    assert plan.pieces == [Piece(12, 18, copy=False)]
    assert plan.copy_frames == 0


def test_a_range_across_a_keyframe_without_a_whole_gop_is_encoded_whole():
    plan = plan_smart([(15, 25)], TEN_BY_TEN)

    assert plan.pieces == [Piece(15, 25, copy=False)]


def test_the_last_gop_is_copied_to_the_end_of_the_file():
    plan = plan_smart([(85, 95)], SHORT_LAST)

    assert plan.pieces == [Piece(85, 90, copy=False), Piece(90, 95, copy=True)]


def test_a_range_past_the_end_stops_at_the_last_frame():
    assert plan_smart([(85, 120)], SHORT_LAST).pieces == [Piece(85, 90, copy=False), Piece(90, 95, copy=True)]
    assert frame_ranges([(3.4, 10.0)], Fraction(25), total=95) == [(85, 95)]


def test_touching_and_overlapping_ranges_are_joined():
    assert frame_ranges([(1.0, 2.0), (2.0, 3.0)], Fraction(25), total=100) == [(25, 75)]
    assert frame_ranges([(1.0, 2.5), (2.0, 3.0)], Fraction(25), total=100) == [(25, 75)]
    # A gap shorter than half a frame (2.0 s is frame 50, 2.01 s is frame 50.25) is no gap.
    assert frame_ranges([(1.0, 2.0), (2.01, 3.0)], Fraction(25), total=100) == [(25, 75)]


def test_joined_ranges_copy_the_gops_across_the_join():
    plan = plan_smart(frame_ranges([(0.4, 1.2), (1.2, 2.0)], Fraction(25), total=100), TEN_BY_TEN)

    assert plan.pieces == [Piece(10, 50, copy=True)]


@pytest.mark.parametrize(
    ("rate", "keep", "frames"),
    [
        # 60 s × 24000/1001 = 1438.56 → 1439; 100 s → 2397.60 → 2398 (at 24 fps: 1440, 2400).
        (FILM, (60.0, 100.0), (1439, 2398)),
        # 10 s × 30000/1001 = 299.70 → 300; 20 s → 599.40 → 599: 299 frames, not 300.
        (NTSC, (10.0, 20.0), (300, 599)),
        # 1 s → 29.97 → 30; 0.5 s → 14.985 → 15.
        (NTSC, (0.5, 1.0), (15, 30)),
    ],
)
def test_times_are_rounded_to_the_nearest_frame_at_fractional_rates(rate, keep, frames):
    assert frame_ranges([keep], rate, total=10_000) == [frames]


def test_less_than_a_frame_is_refused():
    with pytest.raises(MediaError, match="less than one frame"):
        frame_ranges([(1.0, 1.01)], Fraction(25), total=100)  # frames 25 to 25.25 → 25


def test_the_work_estimate_counts_encoded_frames_copies_decodes_and_restarts():
    plan = plan_smart([(15, 47)], TEN_BY_TEN)

    # 12 encoded + 20 copied / 32; decoded: 10..19 and 40..46 to reach the edges, and the check's
    # windows (the first JOIN_FRAMES of each of the three pieces); 2 restarts.
    assert smart_work(plan, TEN_BY_TEN) == 12 + 20 / 32 + (10 + 7 + 3 * JOIN_FRAMES) / 5 + 2 * 10


def test_a_plain_re_encode_decodes_up_to_the_last_kept_frame():
    assert full_work([(15, 47), (60, 70)]) == 42 + 70 / 5


def test_only_the_first_frames_of_a_copied_run_are_decoded_in_the_check():
    plan = plan_smart([(0, 100)], TEN_BY_TEN)

    assert join_windows(plan, TEN_BY_TEN) == [(0, JOIN_FRAMES)]


def test_windows_are_in_output_frames_and_merge_where_they_touch():
    plan = plan_smart([(15, 47)], TEN_BY_TEN)

    # Output 0..4 encoded, 5..24 copied, 25..31 encoded: the first four frames of each.
    assert JOIN_FRAMES == 4
    assert join_windows(plan, TEN_BY_TEN) == [(0, 4), (5, 9), (25, 29)]


def test_each_copied_run_after_a_cut_is_checked_from_its_join():
    plan = plan_smart([(10, 30), (50, 70)], TEN_BY_TEN)

    # The second run starts at output frame 20, after the 20 frames of the first.
    assert join_windows(plan, TEN_BY_TEN) == [(0, JOIN_FRAMES), (20, 20 + JOIN_FRAMES)]


def test_pieces_shorter_than_a_window_are_checked_whole_and_windows_that_touch_merge():
    plan = plan_smart([(8, 12), (18, 21)], TEN_BY_TEN)  # two pieces, encoded: 8..11 and 18..20

    assert join_windows(plan, TEN_BY_TEN) == [(0, 7)]


def test_edges_in_a_pause_move_out_onto_keyframes_within_the_slack():
    # 12 is 2 past the keyframe at 10, 38 is 2 short of the GOP end at 40: both move out.
    assert snap_to_gops([(12, 38), (62, 75)], TEN_BY_TEN, slack=2) == [(10, 40), (60, 75)]


def test_edges_further_than_the_slack_stay():
    assert snap_to_gops([(13, 37)], TEN_BY_TEN, slack=2) == [(13, 37)]


def test_an_edge_never_moves_onto_the_next_kept_range():
    # The keyframe at 40 is within the slack of both 38 and 42, but taking it from both sides
    # would join the ranges over a pause that is to go: only the first range's end moves.
    assert snap_to_gops([(20, 38), (42, 60)], TEN_BY_TEN, slack=3) == [(20, 40), (42, 60)]


def test_an_edge_moves_only_where_it_makes_a_whole_gop_copied():
    # 12..18 lies inside one GOP: moving 12 to 10 would still leave it encoded.
    assert snap_to_gops([(12, 18)], TEN_BY_TEN, slack=5) == [(12, 18)]


def test_snapping_to_the_end_of_a_short_last_gop():
    assert snap_to_gops([(80, 93)], SHORT_LAST, slack=2) == [(80, 95)]


def test_parallel_segments_share_the_kept_frames_evenly_and_in_order():
    runs = split_frames([(0, 10), (20, 25), (30, 31)], 4)

    assert runs == [[(0, 4)], [(4, 8)], [(8, 10), (20, 22)], [(22, 25), (30, 31)]]


def test_fewer_frames_than_segments_give_one_frame_each():
    assert split_frames([(5, 8)], 5) == [[(5, 6)], [(6, 7)], [(7, 8)]]


def test_the_first_range_may_move_back_to_the_first_frame():
    assert snap_to_gops([(2, 30)], TEN_BY_TEN, slack=2) == [(0, 30)]
