//! `verbatim serve`: an archive answered over Arrow Flight SQL, for notebooks and any client with
//! a Flight SQL or ADBC driver. The protocol is arrow-flight's `FlightSqlService`, over the
//! [`Engine`] every front end shares: each request reads the archive's newest snapshot (a nightly
//! ingest shows up without a restart), all queries share the engine's memory pool and run on its
//! query runtime, and only queries run: DDL (`CREATE EXTERNAL TABLE` over arbitrary paths), DML
//! (`COPY TO`, `INSERT`) and statements (`SET`) are refused. With a token, every call must carry
//! `authorization: Bearer TOKEN`.
//!
//! Statements and prepared statements (what ADBC sends) are supported; parameters, catalog
//! listings and transactions are not.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use arrow_flight::encode::FlightDataEncoderBuilder;
use arrow_flight::error::FlightError;
use arrow_flight::flight_service_server::FlightServiceServer;
use arrow_flight::sql::server::FlightSqlService;
use arrow_flight::sql::{
    ActionClosePreparedStatementRequest, ActionCreatePreparedStatementRequest, ActionCreatePreparedStatementResult,
    CommandPreparedStatementQuery, CommandStatementQuery, ProstMessageExt, SqlInfo, TicketStatementQuery,
};
use arrow_flight::{FlightData, FlightDescriptor, FlightEndpoint, FlightInfo, IpcMessage, SchemaAsIpc, Ticket};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::ipc::writer::IpcWriteOptions;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::error::DataFusionError;
use datafusion::execution::context::SQLOptions;
use datafusion::logical_expr::LogicalPlan;
use futures::{Stream, StreamExt, TryStreamExt};
use prost::Message;
use tonic::{Request, Response, Status};
use verbatim_engine::{Engine, Error, Session};
use verbatim_query::QueryError;

/// How long queries still running when the server is told to stop may take to end; then the
/// server stops anyway.
const DRAIN: Duration = Duration::from_secs(5);

/// How `serve` is set up.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// The address to listen on.
    pub bind: SocketAddr,
    /// The bearer token clients must send, if any.
    pub token: Option<String>,
}

/// The server could not start, or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The address could not be bound.
    #[error("cannot listen on {address}: {source}")]
    Bind {
        /// The address.
        address: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The server failed while serving.
    #[error("Flight SQL server on {address}: {source}")]
    Serve {
        /// The address.
        address: SocketAddr,
        /// What failed.
        source: tonic::transport::Error,
    },
}

/// Serves `engine`'s archive until the process gets Ctrl-C or SIGTERM. Queries run on the
/// engine's runtime, so that a runaway query leaves this runtime free to accept connections and
/// answer calls; a query stops when its client goes away or at the engine's time limit. On a stop
/// signal every query still running is cancelled and the server ends within [`DRAIN`].
pub async fn serve(engine: Engine, options: ServeOptions) -> Result<(), ServeError> {
    let service = ArchiveService {
        engine: engine.clone(),
        read_only: SQLOptions::new().with_allow_ddl(false).with_allow_dml(false).with_allow_statements(false),
    };
    let expected = options.token.map(|token| format!("Bearer {token}"));
    let check_token = move |request: Request<()>| -> Result<Request<()>, Status> {
        match &expected {
            Some(expected) => {
                let given = request.metadata().get("authorization").map(|value| value.as_bytes());
                if given.is_some_and(|given| same_secret(given, expected.as_bytes())) {
                    Ok(request)
                } else {
                    Err(Status::unauthenticated("a valid `authorization: Bearer TOKEN` header is required"))
                }
            }
            None => Ok(request),
        }
    };
    let address = options.bind;
    let listener =
        tokio::net::TcpListener::bind(address).await.map_err(|source| ServeError::Bind { address, source })?;
    let stopping = Arc::new(tokio::sync::Notify::new());
    let stop = {
        let stopping = stopping.clone();
        async move {
            verbatim_cluster::stop_signal().await;
            engine.shut_down();
            stopping.notify_one();
        }
    };
    let server = tonic::transport::Server::builder()
        .add_service(FlightServiceServer::with_interceptor(service, check_token))
        .serve_with_incoming_shutdown(tokio_stream_of(listener), stop);
    tokio::select! {
        served = server => served.map_err(|source| ServeError::Serve { address, source }),
        () = async { stopping.notified().await; tokio::time::sleep(DRAIN).await } => Ok(()),
    }
}

/// Whether `given` equals `expected`, in time that does not depend on where they differ.
fn same_secret(given: &[u8], expected: &[u8]) -> bool {
    given.len() == expected.len() && given.iter().zip(expected).fold(0u8, |diff, (a, b)| diff | (a ^ b)) == 0
}

/// The connections `listener` accepts, as tonic takes them.
fn tokio_stream_of(
    listener: tokio::net::TcpListener,
) -> impl Stream<Item = std::io::Result<tokio::net::TcpStream>> + Send + 'static {
    futures::stream::unfold(listener, |listener| async move {
        let accepted = listener.accept().await.map(|(stream, _)| stream);
        Some((accepted, listener))
    })
}

/// The Flight SQL handlers over one archive.
struct ArchiveService {
    engine: Engine,
    read_only: SQLOptions,
}

type DoGetStream = Pin<Box<dyn Stream<Item = Result<FlightData, Status>> + Send + 'static>>;

impl ArchiveService {
    /// `sql` planned in a session over the newest snapshot, if it is one query.
    async fn plan(&self, sql: &str) -> Result<(Session, LogicalPlan), Status> {
        let session = self.engine.session(None).await.map_err(|e| status(&e))?;
        let mut statements = session.statements(sql).await.map_err(|e| status(&e))?;
        let statement = match (statements.pop(), statements.is_empty()) {
            (Some(statement), true) => statement,
            _ => return Err(Status::invalid_argument("send one SQL statement per request")),
        };
        let plan = session.plan(statement).await.map_err(|e| status(&e))?;
        self.read_only
            .verify_plan(&plan)
            .map_err(|e| Status::permission_denied(format!("this server is read-only: {}", plain(&e))))?;
        Ok((session, plan))
    }

    /// What a client is told about `sql`: its schema and a ticket to fetch its rows with.
    async fn flight_info(&self, sql: String, descriptor: FlightDescriptor) -> Result<Response<FlightInfo>, Status> {
        let (_, plan) = self.plan(&sql).await?;
        let schema = served_schema(plan.schema().as_arrow());
        let ticket = TicketStatementQuery { statement_handle: sql.into_bytes().into() };
        let info = FlightInfo::new()
            .try_with_schema(&schema)
            .map_err(|e| Status::internal(e.to_string()))?
            .with_endpoint(FlightEndpoint::new().with_ticket(Ticket::new(ticket.as_any().encode_to_vec())))
            .with_descriptor(descriptor);
        Ok(Response::new(info))
    }

    /// The rows of `sql`, as Flight data. The query runs while the client reads; when the client
    /// goes away, tonic drops the stream and the query stops.
    async fn rows(&self, sql: &str) -> Result<Response<DoGetStream>, Status> {
        let (session, plan) = self.plan(sql).await?;
        let schema = served_schema(plan.schema().as_arrow());
        let target = schema.clone();
        let batches = session
            .run(plan)
            .map(move |batch| match batch {
                Ok(batch) => served_batch(&batch, &target).map_err(|e| FlightError::ExternalError(Box::new(e))),
                Err(error) => Err(FlightError::Tonic(Box::new(status(&error)))),
            })
            .boxed();
        let encoded = FlightDataEncoderBuilder::new().with_schema(schema).build(batches).map_err(|e| match e {
            FlightError::Tonic(status) => *status,
            FlightError::ExternalError(inner) => Status::internal(inner.to_string()),
            other => Status::internal(other.to_string()),
        });
        Ok(Response::new(Box::pin(encoded)))
    }
}

/// The gRPC status for an engine error: the message, with the code that says what kind it is.
fn status(error: &Error) -> Status {
    let message = error.to_string();
    match error {
        Error::Query(QueryError::TimedOut { .. }) => Status::deadline_exceeded(message),
        Error::Query(QueryError::Cancelled) => Status::cancelled(message),
        Error::Query(QueryError::OutOfMemory { .. }) => Status::resource_exhausted(message),
        Error::Query(QueryError::DataFusion { .. } | QueryError::TooDeep { .. } | QueryError::TooLong { .. }) => {
            Status::invalid_argument(message)
        }
        Error::Archive(_) | Error::Query(QueryError::Archive(_) | QueryError::Damaged(_) | QueryError::Read { .. }) => {
            Status::unavailable(message)
        }
        _ => Status::internal(message),
    }
}

/// A DataFusion error's message without its variant wrapping.
fn plain(error: &DataFusionError) -> String {
    error.to_string().trim_start_matches("Error during planning: ").to_string()
}

/// The schema rows are served with: string and binary views as plain strings and binaries, which
/// every client reads.
fn served_schema(schema: &Schema) -> SchemaRef {
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|field| match field.data_type() {
            DataType::Utf8View => field.as_ref().clone().with_data_type(DataType::Utf8),
            DataType::BinaryView => field.as_ref().clone().with_data_type(DataType::Binary),
            _ => field.as_ref().clone(),
        })
        .collect();
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

/// `batch` with the served schema's types.
fn served_batch(batch: &RecordBatch, target: &SchemaRef) -> Result<RecordBatch, DataFusionError> {
    let columns =
        batch
            .columns()
            .iter()
            .zip(target.fields())
            .map(|(column, field)| {
                if column.data_type() == field.data_type() {
                    Ok(column.clone())
                } else {
                    cast(column, field.data_type())
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
    Ok(RecordBatch::try_new(target.clone(), columns)?)
}

fn utf8(bytes: &[u8], what: &str) -> Result<String, Status> {
    String::from_utf8(bytes.to_vec()).map_err(|_| Status::invalid_argument(format!("{what} is not UTF-8")))
}

#[tonic::async_trait]
impl FlightSqlService for ArchiveService {
    type FlightService = ArchiveService;

    async fn get_flight_info_statement(
        &self,
        query: CommandStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.flight_info(query.query, request.into_inner()).await
    }

    async fn get_flight_info_prepared_statement(
        &self,
        query: CommandPreparedStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let sql = utf8(&query.prepared_statement_handle, "the prepared statement handle")?;
        self.flight_info(sql, request.into_inner()).await
    }

    async fn do_get_statement(
        &self,
        ticket: TicketStatementQuery,
        _request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        self.rows(&utf8(&ticket.statement_handle, "the ticket")?).await
    }

    async fn do_get_prepared_statement(
        &self,
        query: CommandPreparedStatementQuery,
        _request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        self.rows(&utf8(&query.prepared_statement_handle, "the prepared statement handle")?).await
    }

    /// A prepared statement's handle is its SQL; preparing plans it, to check it and give its schema.
    async fn do_action_create_prepared_statement(
        &self,
        query: ActionCreatePreparedStatementRequest,
        _request: Request<arrow_flight::Action>,
    ) -> Result<ActionCreatePreparedStatementResult, Status> {
        let (_, plan) = self.plan(&query.query).await?;
        let schema = served_schema(plan.schema().as_arrow());
        let options = IpcWriteOptions::default();
        let IpcMessage(dataset_schema) = SchemaAsIpc::new(&schema, &options)
            .try_into()
            .map_err(|e: datafusion::arrow::error::ArrowError| Status::internal(e.to_string()))?;
        Ok(ActionCreatePreparedStatementResult {
            prepared_statement_handle: query.query.into_bytes().into(),
            dataset_schema,
            parameter_schema: Default::default(),
        })
    }

    async fn do_action_close_prepared_statement(
        &self,
        _query: ActionClosePreparedStatementRequest,
        _request: Request<arrow_flight::Action>,
    ) -> Result<(), Status> {
        Ok(())
    }

    async fn register_sql_info(&self, _id: i32, _result: &SqlInfo) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{ArrayRef, StringViewArray};

    #[test]
    fn tokens_compare_whole() {
        assert!(same_secret(b"Bearer abc", b"Bearer abc"));
        assert!(!same_secret(b"Bearer abd", b"Bearer abc"));
        assert!(!same_secret(b"Bearer ab", b"Bearer abc"));
    }

    #[test]
    fn views_are_served_as_plain_strings() {
        let schema = Schema::new(vec![Field::new("text", DataType::Utf8View, true)]);
        let served = served_schema(&schema);
        assert_eq!(served.field(0).data_type(), &DataType::Utf8);
        let column: ArrayRef = Arc::new(StringViewArray::from(vec![Some("a"), None]));
        let batch = RecordBatch::try_new(Arc::new(schema), vec![column]).unwrap();
        let out = served_batch(&batch, &served).unwrap();
        assert_eq!(out.schema(), served);
        assert_eq!(out.num_rows(), 2);
    }
}
