//! Holds every answer until what it was built from is on disk ([`Node::settled`]): a client
//! must not learn of a write that a power cut could still take back (see
//! `store::sql::group_commit`). Nearly always that is so already — two atomic loads — and the
//! route's own future is answered as is; only while writes wait for their sync does an answer
//! wait for that sync too. A hand-written service rather than `middleware::from_fn`, which
//! boxes every request's future and a copy of the route.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use tower::{Layer, Service};

use super::error::ApiError;
use crate::node::{Node, NodeError};

/// Puts [`Settle`] in front of each route.
#[derive(Clone)]
pub struct SettleLayer(pub Arc<Node>);

impl<S> Layer<S> for SettleLayer {
    type Service = Settle<S>;

    fn layer(&self, inner: S) -> Settle<S> {
        Settle {
            node: self.0.clone(),
            inner,
        }
    }
}

#[derive(Clone)]
pub struct Settle<S> {
    node: Arc<Node>,
    inner: S,
}

impl<S> Service<Request> for Settle<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
    S::Future: Unpin,
{
    type Response = Response;
    type Error = Infallible;
    type Future = SettleFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        SettleFuture::Route {
            route: self.inner.call(req),
            node: self.node.clone(),
        }
    }
}

type Flush = Pin<Box<dyn Future<Output = Result<(), NodeError>> + Send>>;

/// The route's answer, then (rarely) the sync it must wait for.
pub enum SettleFuture<F> {
    Route {
        route: F,
        node: Arc<Node>,
    },
    Syncing {
        answer: Option<Response>,
        flush: Flush,
    },
}

impl<F> Future for SettleFuture<F>
where
    F: Future<Output = Result<Response, Infallible>> + Unpin,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        loop {
            match this {
                SettleFuture::Route { route, node } => {
                    let Poll::Ready(Ok(answer)) = Pin::new(route).poll(cx) else {
                        return Poll::Pending;
                    };
                    if node.is_settled() {
                        return Poll::Ready(Ok(answer));
                    }
                    let node = node.clone();
                    *this = SettleFuture::Syncing {
                        answer: Some(answer),
                        flush: Box::pin(async move { node.settled().await }),
                    };
                }
                SettleFuture::Syncing { answer, flush } => {
                    return match flush.as_mut().poll(cx) {
                        Poll::Pending => Poll::Pending,
                        Poll::Ready(Ok(())) => {
                            Poll::Ready(Ok(answer.take().expect("polled after completion")))
                        }
                        Poll::Ready(Err(e)) => Poll::Ready(Ok(ApiError::from(e).into_response())),
                    };
                }
            }
        }
    }
}
