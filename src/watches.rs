//! The watches the operator holds open on the API server, counted for `/metrics`
//! (`stagesync_watches`): a layer of the kube client counts a request with `watch=true` (or
//! `watch=1`) from when it is sent until its response — the event stream — is dropped, or the
//! request fails. The operator runs a fixed set of watches, so a count that grows over API server
//! restarts and dropped streams is a leaked watch.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures::future::BoxFuture;
use http::{Request, Response, Uri};
use http_body::{Body, Frame, SizeHint};
use prometheus_client::metrics::gauge::Gauge;
use tower_layer::Layer;
use tower_service::Service;

/// Counts the open watch requests of the service it wraps into a gauge.
#[derive(Clone, Debug)]
pub struct CountWatches {
    open: Gauge,
}

impl CountWatches {
    /// A layer counting into `open`.
    pub fn new(open: Gauge) -> Self {
        Self { open }
    }
}

impl<S> Layer<S> for CountWatches {
    type Service = Counted<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Counted {
            inner,
            open: self.open.clone(),
        }
    }
}

/// A service whose watch requests are counted while open.
#[derive(Clone, Debug)]
pub struct Counted<S> {
    inner: S,
    open: Gauge,
}

/// Whether a request is a watch: `watch=true` or `watch=1` in its query.
fn is_watch(uri: &Uri) -> bool {
    uri.query().is_some_and(|q| {
        q.split('&')
            .any(|pair| matches!(pair, "watch=true" | "watch=1"))
    })
}

/// One open watch; closed when dropped.
#[derive(Debug)]
struct OpenWatch(Gauge);

impl OpenWatch {
    fn open(gauge: &Gauge) -> Self {
        gauge.inc();
        Self(gauge.clone())
    }
}

impl Drop for OpenWatch {
    fn drop(&mut self) {
        self.0.dec();
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for Counted<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    S::Future: Send + 'static,
{
    type Response = Response<WatchBody<ResBody>>;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let watch = is_watch(request.uri()).then(|| OpenWatch::open(&self.open));
        let response = self.inner.call(request);
        Box::pin(async move {
            // A failed request drops `watch` here: it is no longer open.
            let response = response.await?;
            Ok(response.map(|body| WatchBody {
                body,
                _watch: watch,
            }))
        })
    }
}

/// A response body that keeps its watch counted as open until it is dropped.
#[derive(Debug)]
pub struct WatchBody<B> {
    body: B,
    /// Held for its drop.
    _watch: Option<OpenWatch>,
}

impl<B: Body + Unpin> Body for WatchBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::convert::Infallible;

    /// Answers every request with a one-chunk body.
    #[derive(Clone)]
    struct Answer;

    impl Service<Request<()>> for Answer {
        type Response = Response<http_body_util::Full<hyper::body::Bytes>>;
        type Error = Infallible;
        type Future = std::future::Ready<Result<Self::Response, Infallible>>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, _: Request<()>) -> Self::Future {
            std::future::ready(Ok(Response::new(http_body_util::Full::from("{}"))))
        }
    }

    fn request(uri: &str) -> Request<()> {
        Request::get(uri).body(()).unwrap()
    }

    #[tokio::test]
    async fn a_watch_is_open_until_its_stream_is_dropped() {
        let open = Gauge::default();
        let mut client = CountWatches::new(open.clone()).layer(Answer);
        let list = client
            .call(request("/api/v1/secrets?labelSelector=a%3Db"))
            .await
            .unwrap();
        assert_eq!(open.get(), 0, "a list is no watch");
        let first = client
            .call(request("/api/v1/secrets?watch=true&resourceVersion=5"))
            .await
            .unwrap();
        let second = client
            .call(request(
                "/apis/stagesync.io/v1alpha1/externalsecrets?watch=1",
            ))
            .await
            .unwrap();
        assert_eq!(open.get(), 2);
        drop(first);
        assert_eq!(open.get(), 1);
        drop((second, list));
        assert_eq!(open.get(), 0);
        // `watch=false` and a name that merely contains the word are no watches.
        let _not = client
            .call(request("/api/v1/namespaces/watch=true/secrets?watch=false"))
            .await
            .unwrap();
        assert_eq!(open.get(), 0);
    }

    #[tokio::test]
    async fn the_body_is_passed_through() {
        use http_body_util::BodyExt;
        let open = Gauge::default();
        let mut client = CountWatches::new(open.clone()).layer(Answer);
        let response = client.call(request("/x?watch=true")).await.unwrap();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&bytes[..], b"{}");
        assert_eq!(open.get(), 0, "collected and dropped");
    }
}
