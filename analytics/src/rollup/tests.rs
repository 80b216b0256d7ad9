use super::*;

const NOW: i64 = 1_793_588_400_000; // 2026-11-02T03:00:00Z
const TODAY: i64 = 1_793_577_600_000; // 2026-11-02T00:00:00Z

fn c(attempts: u64, failures: u64) -> Counts {
    Counts { attempts, failures }
}

#[test]
fn merge_adds_equal_keys_and_keeps_order() {
    let mut slot: Slot = vec![(1, c(1, 0)), (4, c(2, 1)), (9, c(1, 1))];
    merge(&mut slot, vec![(0, c(5, 5)), (4, c(1, 0)), (10, c(1, 0))]);
    assert_eq!(
        slot,
        vec![
            (0, c(5, 5)),
            (1, c(1, 0)),
            (4, c(3, 1)),
            (9, c(1, 1)),
            (10, c(1, 0))
        ]
    );
    let mut empty = Slot::new();
    merge(&mut empty, vec![(3, c(1, 1))]);
    assert_eq!(empty, vec![(3, c(1, 1))]);
}

#[test]
fn keys_round_trip() {
    let k = key(HEAT, 0x0fff_ffff, 7);
    assert_eq!(
        (kind_of(k), first_of(k), second_of(k)),
        (HEAT, 0x0fff_ffff, 7)
    );
    assert_eq!((kind_of(key(3, 0, 0)), first_of(key(3, 12, 0))), (3, 12));
}

#[test]
fn edges_snap_forward_to_the_finest_level_kept_there() {
    let keep = Keep::at(NOW);
    assert_eq!(keep.0[0], TODAY - 2 * DAY_MS);
    assert_eq!(keep.0[1], TODAY - 8 * DAY_MS);
    assert_eq!(keep.0[2], i64::MIN);
    // Recent: 10 s.
    assert_eq!(keep.snap(NOW - 3_600_001), NOW - 3_600_000);
    assert_eq!(keep.snap(NOW - 3_599_999), NOW - 3_590_000);
    assert_eq!(keep.snap(NOW), NOW);
    // Three days back: a minute boundary.
    let t = TODAY - 3 * DAY_MS + 61_000;
    assert_eq!(keep.snap(t), TODAY - 3 * DAY_MS + 120_000);
    assert!(keep.is_cut(TODAY - 3 * DAY_MS + 120_000));
    assert!(!keep.is_cut(TODAY - 3 * DAY_MS + 10_000));
    // Twenty days back: an hour boundary.
    let t = TODAY - 20 * DAY_MS + 1;
    assert_eq!(keep.snap(t), TODAY - 20 * DAY_MS + 3_600_000);
    assert!(!keep.is_cut(TODAY - 20 * DAY_MS + 60_000));
    // Before 1970 too.
    assert_eq!(keep.snap(-3_599_999), 0);
}

/// One count per 10 s slot over three days, every level filled, then the
/// fine levels pruned as a refresh does: any range between cuts adds up to
/// its number of fine slots, each once.
#[test]
fn a_visit_counts_every_slot_of_a_range_once() {
    let mut levels = Levels::default();
    let from = TODAY - 3 * DAY_MS;
    let mut combos = FastMap::default();
    let mut t = from;
    while t < NOW {
        combos.insert((t, [0, 1, 0, 0, 0]), c(1, u64::from(t % 20_000 == 0)));
        t += LEVELS[0];
    }
    levels.add(combos);
    let keep = Keep::at(NOW);
    for (level, from) in keep.0.iter().enumerate() {
        if *from != i64::MIN {
            levels.prune(level, *from);
        }
    }
    assert!(levels.0[0].keys().all(|t| *t >= TODAY - 2 * DAY_MS));
    let total = key(TOTAL, 0, 0);
    let count = |a: i64, b: i64| {
        let mut n = Counts::default();
        levels.visit(a, b, 2, &mut |slot: &Slot| {
            for (k, c) in slot {
                if *k == total {
                    n.add(*c);
                }
            }
        });
        n
    };
    let mut seed = 7_u64;
    let mut next = move || {
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        seed >> 33
    };
    for _ in 0..500 {
        let a = keep.snap(from + (next() as i64 % (NOW - from)));
        let b = keep.snap(a + (next() as i64 % (NOW - a + 1)));
        assert!(keep.is_cut(a) && keep.is_cut(b), "{a} {b}");
        let slots = ((b - a) / LEVELS[0]) as u64;
        let failures = (a..b)
            .step_by(LEVELS[0] as usize)
            .filter(|t| t % 20_000 == 0)
            .count();
        assert_eq!(count(a, b), c(slots, failures as u64), "[{a}, {b})");
    }
}
