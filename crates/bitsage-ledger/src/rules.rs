//! The economic rules as pure functions: the fee split and the staker reward accumulator.

use primitive_types::U256;

use crate::amount::Amount;

/// Scale of the reward-per-share accumulator.
pub fn precision() -> U256 {
    U256::exp10(36)
}

/// How one job's fee is paid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FeeSplit {
    /// 80%, rounded down.
    pub worker: Amount,
    /// 18%, rounded down, plus every unit the rounding left over, so nothing is created or lost.
    pub treasury: Amount,
    /// 2%, rounded down, to the stakers' reward pool.
    pub stakers: Amount,
}

impl FeeSplit {
    pub fn of(fee: Amount) -> Self {
        let f = fee.0;
        // f / 100 * k + (f % 100) * k / 100 avoids overflow of f * k for any u128.
        let share = |k: u128| f / 100 * k + (f % 100) * k / 100;
        let worker = share(80);
        let stakers = share(2);
        let treasury = f - worker - stakers;
        Self {
            worker: Amount(worker),
            treasury: Amount(treasury),
            stakers: Amount(stakers),
        }
    }
}

/// Accumulator after distributing `reward` over `total_stake` (unchanged when nobody stakes).
pub fn accumulate(acc: U256, reward: Amount, total_stake: Amount) -> U256 {
    if total_stake.is_zero() {
        return acc;
    }
    acc + U256::from(reward.0) * precision() / U256::from(total_stake.0)
}

/// `stake · acc / precision`: what a stake has earned since the accumulator was zero.
pub fn earned(stake: Amount, acc: U256) -> U256 {
    U256::from(stake.0) * acc / precision()
}

/// Rewards a staker can claim now: earned minus the debt recorded at the last stake change.
pub fn pending(stake: Amount, acc: U256, debt: U256) -> Amount {
    let owed = earned(stake, acc).saturating_sub(debt);
    Amount(owed.low_u128())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn split_of_uneven_fee() {
        let split = FeeSplit::of(Amount(101));
        assert_eq!(split.worker, Amount(80));
        assert_eq!(split.stakers, Amount(2));
        assert_eq!(split.treasury, Amount(19), "18 plus the leftover unit");
        let split = FeeSplit::of(Amount(7));
        assert_eq!(
            (split.worker.0, split.treasury.0, split.stakers.0),
            (5, 2, 0)
        );
    }

    proptest! {
        #[test]
        fn split_conserves_every_unit(fee in any::<u128>()) {
            let s = FeeSplit::of(Amount(fee));
            prop_assert_eq!(s.worker.0 + s.treasury.0 + s.stakers.0, fee);
            prop_assert!(s.worker.0 <= fee / 100 * 80 + 80);
        }

        #[test]
        fn rewards_never_exceed_what_was_paid(
            stakes in proptest::collection::vec(1u128..1_000_000_000_000_000_000_000_000, 1..6),
            rewards in proptest::collection::vec(0u128..1_000_000_000_000_000_000_000, 1..6),
        ) {
            let total = Amount(stakes.iter().sum());
            let acc = rewards.iter().fold(U256::zero(), |acc, r| accumulate(acc, Amount(*r), total));
            let owed: u128 = stakes.iter().map(|s| pending(Amount(*s), acc, U256::zero()).0).sum();
            prop_assert!(owed <= rewards.iter().sum::<u128>());
        }
    }
}
