//! Query budgets: per token, how many queries run at once and how many start per minute; for
//! the whole server, how many SQL statements run at once over HTTP and PostgreSQL together.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The budget every token gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueryBudget {
    /// Queries of one token running at the same time.
    pub concurrent: usize,
    /// Queries one token may start per minute (bursts up to this many).
    pub per_minute: NonZeroU32,
    /// SQL statements running at once, all callers and both protocols together.
    pub running: usize,
}

impl Default for QueryBudget {
    fn default() -> Self {
        Self {
            concurrent: 4,
            per_minute: NonZeroU32::new(120).expect("non-zero"),
            running: 16,
        }
    }
}

/// A query refused for its token's budget.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BudgetError {
    /// Too many of the token's queries are running.
    #[error(
        "too many queries at once: this token may run {limit} at a time; wait for one to finish"
    )]
    Concurrent {
        /// The token's limit.
        limit: usize,
    },
    /// The token started too many queries in the last minute.
    #[error(
        "rate limit: this token may start {limit} queries per minute; retry in {} s",
        retry_after.as_secs().max(1)
    )]
    Rate {
        /// The token's limit.
        limit: NonZeroU32,
        /// When the next query would be admitted.
        retry_after: Duration,
    },
    /// The server runs its most statements at once and none finished within a short wait.
    #[error("the server is running its most SQL queries at once ({limit}); retry shortly")]
    Busy {
        /// The server's limit.
        limit: usize,
    },
}

/// How long a statement waits for one of the server's running slots before it is refused.
const RUNNING_WAIT: Duration = Duration::from_secs(2);

/// Held while an admitted query runs; dropping it frees the slot.
#[derive(Debug)]
pub struct BudgetPermit {
    _slot: OwnedSemaphorePermit,
}

#[derive(Debug)]
struct TokenBudget {
    rate: DefaultDirectRateLimiter,
    slots: Arc<Semaphore>,
}

/// Every token's budget, created at its first query.
#[derive(Debug)]
pub struct Budgets {
    budget: QueryBudget,
    tokens: Mutex<HashMap<String, Arc<TokenBudget>>>,
    running: Arc<Semaphore>,
}

impl Budgets {
    /// Budgets of `budget` for each token.
    pub fn new(budget: QueryBudget) -> Self {
        Self {
            budget,
            tokens: Mutex::default(),
            running: Arc::new(Semaphore::new(budget.running.max(1))),
        }
    }

    /// One of the server's running slots, held until the statement's last row is sent; waits
    /// up to two seconds for one to free.
    pub async fn running_slot(&self) -> Result<BudgetPermit, BudgetError> {
        let waited =
            tokio::time::timeout(RUNNING_WAIT, Arc::clone(&self.running).acquire_owned()).await;
        match waited {
            Ok(Ok(slot)) => Ok(BudgetPermit { _slot: slot }),
            _ => Err(BudgetError::Busy {
                limit: self.budget.running,
            }),
        }
    }

    /// Admits one query of `token_id`, or says why not.
    pub fn admit(&self, token_id: &str) -> Result<BudgetPermit, BudgetError> {
        let token = {
            let mut tokens = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
            Arc::clone(tokens.entry(token_id.to_owned()).or_insert_with(|| {
                Arc::new(TokenBudget {
                    rate: RateLimiter::direct(Quota::per_minute(self.budget.per_minute)),
                    slots: Arc::new(Semaphore::new(self.budget.concurrent)),
                })
            }))
        };
        let slot =
            Arc::clone(&token.slots)
                .try_acquire_owned()
                .map_err(|_| BudgetError::Concurrent {
                    limit: self.budget.concurrent,
                })?;
        token.rate.check().map_err(|not_until| BudgetError::Rate {
            limit: self.budget.per_minute,
            retry_after: not_until.wait_time_from(DefaultClock::default().now()),
        })?;
        Ok(BudgetPermit { _slot: slot })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concurrency_and_rate_are_per_token() {
        let budgets = Budgets::new(QueryBudget {
            concurrent: 1,
            per_minute: NonZeroU32::new(3).unwrap(),
            running: 16,
        });
        let running = budgets.admit("a").unwrap();
        assert_eq!(
            budgets.admit("a").unwrap_err(),
            BudgetError::Concurrent { limit: 1 }
        );
        // Another token is not held back by the first.
        drop(budgets.admit("b").unwrap());
        drop(running);
        drop(budgets.admit("a").unwrap());
        drop(budgets.admit("a").unwrap());
        let err = budgets.admit("a").unwrap_err();
        assert!(matches!(err, BudgetError::Rate { .. }), "{err}");
        assert!(err.to_string().contains("3 queries per minute"), "{err}");
    }

    #[tokio::test]
    async fn running_slots_are_shared_by_every_caller_and_refused_after_a_short_wait() {
        let budgets = Budgets::new(QueryBudget {
            running: 1,
            ..QueryBudget::default()
        });
        let held = budgets.running_slot().await.unwrap();
        let refused = budgets.running_slot().await.unwrap_err();
        assert_eq!(refused, BudgetError::Busy { limit: 1 });
        drop(held);
        drop(budgets.running_slot().await.unwrap());
    }
}
