//! Staking tiers: the active stake decides how many jobs a worker may hold and how early it is
//! served.

use serde::{Deserialize, Serialize};

use crate::amount::Amount;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StakeTier {
    Consumer,
    Workstation,
    DataCenter,
    Enterprise,
    Frontier,
}

impl StakeTier {
    /// Ascending by minimum stake.
    pub const ALL: [StakeTier; 5] = [
        StakeTier::Consumer,
        StakeTier::Workstation,
        StakeTier::DataCenter,
        StakeTier::Enterprise,
        StakeTier::Frontier,
    ];

    pub const fn min_stake(self) -> Amount {
        Amount::sage(match self {
            StakeTier::Consumer => 1_000,
            StakeTier::Workstation => 2_500,
            StakeTier::DataCenter => 5_000,
            StakeTier::Enterprise => 10_000,
            StakeTier::Frontier => 25_000,
        })
    }

    /// Concurrent jobs allowed; `None` is unlimited.
    pub const fn max_concurrent_jobs(self) -> Option<u32> {
        match self {
            StakeTier::Consumer => Some(4),
            StakeTier::Workstation => Some(8),
            StakeTier::DataCenter => Some(16),
            StakeTier::Enterprise => Some(32),
            StakeTier::Frontier => None,
        }
    }

    /// Scheduling priority: higher is served first.
    pub const fn priority(self) -> u8 {
        self as u8 + 1
    }

    /// The tier an active stake reaches; `None` below the lowest (no jobs).
    pub fn for_stake(stake: Amount) -> Option<Self> {
        Self::ALL.into_iter().rev().find(|t| stake >= t.min_stake())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boundaries() {
        let just_below = Amount(Amount::sage(1_000).0 - 1);
        assert_eq!(StakeTier::for_stake(just_below), None);
        assert_eq!(
            StakeTier::for_stake(Amount::sage(1_000)),
            Some(StakeTier::Consumer)
        );
        assert_eq!(
            StakeTier::for_stake(Amount::sage(2_499)),
            Some(StakeTier::Consumer)
        );
        assert_eq!(
            StakeTier::for_stake(Amount::sage(2_500)),
            Some(StakeTier::Workstation)
        );
        assert_eq!(
            StakeTier::for_stake(Amount::sage(24_999)),
            Some(StakeTier::Enterprise)
        );
        assert_eq!(
            StakeTier::for_stake(Amount::sage(25_000)),
            Some(StakeTier::Frontier)
        );
        assert_eq!(StakeTier::Frontier.max_concurrent_jobs(), None);
        assert!(StakeTier::Frontier.priority() > StakeTier::Consumer.priority());
    }
}
