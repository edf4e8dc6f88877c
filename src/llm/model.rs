//! The [`Model`] and [`Provider`] traits every provider, decorator and chain implements.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;

use super::capabilities::Capabilities;
use super::error::Result;
use super::request::Request;
use super::response::Response;
use super::stream::EventStream;

/// A model that answers requests: one provider's model, a decorated model, or a
/// failover chain. Object safe; use it as `Arc<dyn Model>`.
///
/// Dropping a returned future cancels the call.
#[async_trait]
pub trait Model: Send + Sync {
    /// What the model declares it supports. Unknown is not "no".
    fn capabilities(&self) -> &Capabilities;

    /// The wire protocol this model speaks (`openai`, `anthropic`, `ollama`,
    /// `gemini`, `azure`, `fake`), when it speaks one. Telemetry and usage
    /// records name it even for a call that failed before any answer; a
    /// wrapper forwards its inner model's.
    fn protocol(&self) -> Option<&str> {
        None
    }

    /// Answers `request` in one piece.
    async fn generate(&self, request: Request) -> Result<Response>;

    /// Answers `request` as a stream of events.
    ///
    /// The default implementation calls [`Model::generate`] and replays the
    /// answer as events, for models without native streaming.
    async fn stream(&self, request: Request) -> Result<EventStream> {
        let response = self.generate(request).await?;
        Ok(EventStream::from_response(response))
    }
}

/// A source of models, addressed by model id: `openai`, `anthropic`, a DSN-built
/// server, the fake. Object safe; use it as `Arc<dyn Provider>`.
pub trait Provider: Send + Sync {
    /// The provider's name: the part before `/` in a spec.
    fn name(&self) -> &str;

    /// A model by id. Cheap: no network call is made here; an unknown model
    /// surfaces as a model-not-found error when it is called.
    ///
    /// # Errors
    /// A configuration error when the provider cannot be used at all (for
    /// example a malformed DSN remembered from the environment).
    fn model(&self, id: &str) -> Result<Arc<dyn Model>>;
}

/// Writes a [`Model`]'s `generate` and `stream` as the plain functions that
/// `async_trait` would generate, each body returning its boxed future.
/// Written out, a call's box holds what its body puts there: an `async fn`
/// would hold the request twice, as its argument and as the local it moves
/// it into (ADR 0021). `$this` names `self` in the bodies.
macro_rules! boxed_model_calls {
    (
        $this:ident;
        generate($generate_request:pat) $generate:block
        stream($stream_request:pat) $stream:block
    ) => {
        $crate::llm::model::boxed_model_calls!(
            @call generate, $crate::Response, $this, $generate_request, $generate
        );
        $crate::llm::model::boxed_model_calls!(
            @call stream, $crate::EventStream, $this, $stream_request, $stream
        );
    };
    (@call $name:ident, $output:ty, $this:ident, $request:pat, $body:block) => {
        fn $name<'life0, 'async_trait>(
            &'life0 self,
            $request: $crate::Request,
        ) -> futures::future::BoxFuture<'async_trait, $crate::Result<$output>>
        where
            'life0: 'async_trait,
            Self: 'async_trait,
        {
            let $this = self;
            $body
        }
    };
}
pub(crate) use boxed_model_calls;

/// A shared or boxed model is the model it points to. Its calls return the
/// pointee's own future: wrapped in one more `async` block they would cost a
/// second allocation per call, holding a second copy of the request.
macro_rules! forward_model {
    ($($pointer:ident),*) => {$(
        impl<M: Model + ?Sized> Model for $pointer<M> {
            fn capabilities(&self) -> &Capabilities {
                (**self).capabilities()
            }

            fn protocol(&self) -> Option<&str> {
                (**self).protocol()
            }

            boxed_model_calls! {
                model;
                generate(request) { (**model).generate(request) }
                stream(request) { (**model).stream(request) }
            }
        }
    )*};
}
forward_model!(Arc, Box);

impl<P: Provider + ?Sized> Provider for Arc<P> {
    fn name(&self) -> &str {
        (**self).name()
    }

    fn model(&self, id: &str) -> Result<Arc<dyn Model>> {
        (**self).model(id)
    }
}

impl fmt::Debug for dyn Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("dyn Model")
            .field("capabilities", self.capabilities())
            .finish()
    }
}

impl fmt::Debug for dyn Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("dyn Provider")
            .field("name", &self.name())
            .finish()
    }
}
