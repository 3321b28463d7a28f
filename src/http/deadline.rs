//! A deadline on reading each request's body, so that a client sending a byte at a
//! time cannot hold a connection (and a worker's attention) for ever. actix bounds only
//! the time to the end of the headers (`client_request_timeout`).

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::web::Bytes;
use futures_util::Stream;

/// How long a body may take to arrive, from the moment its headers were read.
#[derive(Debug, Clone, Copy)]
pub struct BodyDeadline(pub Duration);

/// Middleware: wraps the body of every request that has one in [`Deadlined`].
pub async fn body_deadline(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let has_body = req.headers().contains_key(header::TRANSFER_ENCODING)
        || req
            .headers()
            .get(header::CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes() != b"0");
    let limit = req
        .app_data::<actix_web::web::Data<BodyDeadline>>()
        .map(|d| d.0);
    if let (true, Some(limit)) = (has_body, limit) {
        let inner = req.parts_mut().1.take();
        req.set_payload(Payload::Stream {
            payload: Box::pin(Deadlined {
                inner,
                deadline: Box::pin(tokio::time::sleep(limit)),
                expired: false,
            }),
        });
    }
    next.call(req).await
}

/// A body stream that fails with a `TimedOut` I/O error once its deadline passes;
/// `problem::payload_error` answers that with 408.
struct Deadlined {
    inner: Payload,
    deadline: Pin<Box<tokio::time::Sleep>>,
    expired: bool,
}

impl Stream for Deadlined {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.expired {
            return Poll::Ready(None);
        }
        if let Poll::Ready(item) = Pin::new(&mut self.inner).poll_next(cx) {
            return Poll::Ready(item);
        }
        match self.deadline.as_mut().poll(cx) {
            Poll::Ready(()) => {
                self.expired = true;
                Poll::Ready(Some(Err(PayloadError::Io(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "the request body did not arrive in time",
                )))))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}
