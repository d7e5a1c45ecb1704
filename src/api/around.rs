//! Layers that do a little before each request and after its response — the request id, the
//! request metrics — as tower services that add nothing to a request but their own work.
//! `middleware::from_fn` would box every request's future and clone the route for it, which
//! on a cheap read is a visible part of the whole request.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::extract::Request;
use axum::response::Response;
use tower::{Layer, Service};

/// What a layer does around each request.
pub trait Around: Clone + Send + Sync + Unpin + 'static {
    /// What [`Around::before`] hands to [`Around::after`].
    type State: Send + Unpin + 'static;

    /// Sees (and may change) the request before the route does.
    fn before(&self, req: &mut Request) -> Self::State;

    /// A span to enter whenever the route's future is polled, if any.
    fn span(_state: &Self::State) -> Option<&tracing::Span> {
        None
    }

    /// Sees (and may change) the route's response.
    fn after(&self, state: Self::State, response: &mut Response);
}

/// Puts `A` around each route.
#[derive(Clone)]
pub struct AroundLayer<A>(pub A);

impl<A: Around, S> Layer<S> for AroundLayer<A> {
    type Service = AroundService<A, S>;

    fn layer(&self, inner: S) -> Self::Service {
        AroundService {
            around: self.0.clone(),
            inner,
        }
    }
}

#[derive(Clone)]
pub struct AroundService<A, S> {
    around: A,
    inner: S,
}

impl<A, S> Service<Request> for AroundService<A, S>
where
    A: Around,
    S: Service<Request, Response = Response, Error = Infallible>,
    S::Future: Unpin,
{
    type Response = Response;
    type Error = Infallible;
    type Future = AroundFuture<A, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        let state = self.around.before(&mut req);
        let route = {
            let _entered = A::span(&state).map(tracing::Span::enter);
            self.inner.call(req)
        };
        AroundFuture {
            around: self.around.clone(),
            state: Some(state),
            route,
        }
    }
}

pub struct AroundFuture<A: Around, F> {
    around: A,
    /// Taken when the response is ready.
    state: Option<A::State>,
    route: F,
}

impl<A, F> Future for AroundFuture<A, F>
where
    A: Around,
    F: Future<Output = Result<Response, Infallible>> + Unpin,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let Some(state) = this.state.as_ref() else {
            panic!("polled after completion");
        };
        let polled = {
            let _entered = A::span(state).map(tracing::Span::enter);
            Pin::new(&mut this.route).poll(cx)
        };
        let Poll::Ready(Ok(mut response)) = polled else {
            return Poll::Pending;
        };
        let state = this.state.take().expect("present until the response");
        this.around.after(state, &mut response);
        Poll::Ready(Ok(response))
    }
}
