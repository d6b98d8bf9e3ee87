//! Rollout control, as a careful admin pushes to hundreds of machines: `--canary N`
//! (the first N hosts alone; the rest only if all of them succeed), `--batch N|P%`
//! (waves, each finished before the next starts) and `--max-failures N|P%` (once that
//! many hosts have failed, no new host starts). The request is resolved against the
//! hosts that have work into plain numbers, which the plan holds and the runner obeys.

use std::fmt;
use std::str::FromStr;

/// A number of hosts, or a share of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Share {
    Hosts(usize),
    Percent(u8),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShareError {
    #[error("`{0}` is not a number of hosts (10) or a percentage of them (20%)")]
    Unreadable(String),
    #[error("`{0}` must be at least 1")]
    Zero(String),
    #[error("`{0}` must be a percentage from 1% to 100%")]
    Percent(String),
}

impl FromStr for Share {
    type Err = ShareError;

    fn from_str(text: &str) -> Result<Self, ShareError> {
        let unreadable = || ShareError::Unreadable(text.to_string());
        match text.trim().strip_suffix('%') {
            Some(number) => {
                let p: u32 = number.trim().parse().map_err(|_| unreadable())?;
                match u8::try_from(p) {
                    Ok(p @ 1..=100) => Ok(Share::Percent(p)),
                    _ => Err(ShareError::Percent(text.to_string())),
                }
            }
            None => match text.trim().parse::<usize>().map_err(|_| unreadable())? {
                0 => Err(ShareError::Zero(text.to_string())),
                n => Ok(Share::Hosts(n)),
            },
        }
    }
}

impl fmt::Display for Share {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Share::Hosts(n) => write!(f, "{n}"),
            Share::Percent(p) => write!(f, "{p}%"),
        }
    }
}

impl Share {
    /// How many of `hosts` this is: a percentage rounds up, and is never 0.
    pub fn of(self, hosts: usize) -> usize {
        match self {
            Share::Hosts(n) => n,
            Share::Percent(p) => (hosts * usize::from(p)).div_ceil(100).max(1),
        }
    }
}

/// What was asked on the command line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rollout {
    pub canary: Option<usize>,
    pub batch: Option<Share>,
    pub max_failures: Option<Share>,
}

/// The rollout in plain numbers for a run over `hosts` hosts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RolloutPlan {
    pub hosts: usize,
    /// The first wave: these hosts alone, and the rest only if they all succeed.
    pub canary: usize,
    /// The waves after the canaries; `None` is all of them at once.
    pub batch: Option<usize>,
    /// Once this many hosts have failed, no new host starts.
    pub max_failures: Option<usize>,
}

/// One wave of hosts, in queue order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wave {
    pub hosts: usize,
    /// The rest wait for every host of this wave to succeed.
    pub canary: bool,
}

impl Rollout {
    pub fn resolve(self, hosts: usize) -> RolloutPlan {
        RolloutPlan {
            hosts,
            canary: self.canary.unwrap_or(0).min(hosts),
            batch: self.batch.map(|b| b.of(hosts)),
            max_failures: self.max_failures.map(|m| m.of(hosts)),
        }
    }
}

impl RolloutPlan {
    /// Anything beyond "every host as the pool allows".
    pub fn is_controlled(&self) -> bool {
        self.canary > 0 || self.batch.is_some() || self.max_failures.is_some()
    }

    /// The waves, in order; together they hold every host once.
    pub fn waves(&self) -> Vec<Wave> {
        let mut waves = Vec::new();
        if self.canary > 0 {
            waves.push(Wave {
                hosts: self.canary,
                canary: true,
            });
        }
        let mut left = self.hosts - self.canary.min(self.hosts);
        let size = self.batch.unwrap_or(left).max(1);
        while left > 0 {
            let hosts = size.min(left);
            waves.push(Wave { hosts, canary: false });
            left -= hosts;
        }
        waves
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_read_as_admins_write_them() {
        assert_eq!("10".parse(), Ok(Share::Hosts(10)));
        assert_eq!("25%".parse(), Ok(Share::Percent(25)));
        assert_eq!("0".parse::<Share>(), Err(ShareError::Zero("0".into())));
        assert_eq!("0%".parse::<Share>(), Err(ShareError::Percent("0%".into())));
        assert_eq!("150%".parse::<Share>(), Err(ShareError::Percent("150%".into())));
        assert_eq!("ten".parse::<Share>(), Err(ShareError::Unreadable("ten".into())));
        assert_eq!("-3".parse::<Share>(), Err(ShareError::Unreadable("-3".into())));
    }

    #[test]
    fn a_percentage_rounds_up_and_is_never_zero() {
        assert_eq!(Share::Percent(10).of(45), 5);
        assert_eq!(Share::Percent(1).of(3), 1);
        assert_eq!(Share::Percent(100).of(7), 7);
        assert_eq!(Share::Hosts(3).of(100), 3);
    }

    #[test]
    fn waves_cover_every_host_once_canaries_first() {
        let plan = Rollout {
            canary: Some(2),
            batch: Some(Share::Hosts(4)),
            max_failures: None,
        }
        .resolve(11);
        let waves = plan.waves();
        assert_eq!(
            waves,
            [
                Wave {
                    hosts: 2,
                    canary: true
                },
                Wave {
                    hosts: 4,
                    canary: false
                },
                Wave {
                    hosts: 4,
                    canary: false
                },
                Wave {
                    hosts: 1,
                    canary: false
                },
            ]
        );
        assert_eq!(
            Rollout::default().resolve(5).waves(),
            [Wave {
                hosts: 5,
                canary: false
            }]
        );
        assert!(Rollout::default().resolve(0).waves().is_empty());
        // More canaries than hosts: all of them are canaries.
        let all = Rollout {
            canary: Some(9),
            ..Rollout::default()
        }
        .resolve(3);
        assert_eq!(
            all.waves(),
            [Wave {
                hosts: 3,
                canary: true
            }]
        );
    }
}
