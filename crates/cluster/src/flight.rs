//! `verbatim serve`: an archive answered over Arrow Flight SQL, for notebooks and any client with
//! a Flight SQL or ADBC driver. The protocol is arrow-flight's `FlightSqlService`; each request
//! reads the archive's newest snapshot (a nightly ingest shows up without a restart), all queries
//! share one memory pool of the budget, and only queries run: DDL (`CREATE EXTERNAL TABLE` over
//! arbitrary paths), DML (`COPY TO`, `INSERT`) and statements (`SET`) are refused. With a token,
//! every call must carry `authorization: Bearer TOKEN`.
//!
//! Statements and prepared statements (what ADBC sends) are supported; parameters, catalog
//! listings and transactions are not.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

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
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::logical_expr::LogicalPlan;
use futures::{Stream, StreamExt, TryStreamExt};
use prost::Message;
use tonic::{Request, Response, Status};
use verbatim_archive::Archive;
use verbatim_query::{ArchiveSession, SessionOptions};

use crate::ClusterError;

/// How `serve` is set up.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// The address to listen on.
    pub bind: SocketAddr,
    /// The bearer token clients must send, if any.
    pub token: Option<String>,
    /// The query sessions' settings (memory budget, spill folder, parallelism).
    pub session: SessionOptions,
    /// The memory limit as shown to people, for errors.
    pub limit_shown: String,
}

/// Serves `archive` until the process gets Ctrl-C or SIGTERM.
pub async fn serve(archive: Archive, options: ServeOptions) -> Result<(), ClusterError> {
    let process = format!("Flight SQL server on {}", options.bind);
    let failed = |reason: String| ClusterError::Process { process: process.clone(), reason };
    let runtime = verbatim_query::runtime_env(&options.session)?;
    let service = ArchiveService {
        archive,
        session: options.session.clone(),
        runtime,
        limit_shown: options.limit_shown.clone(),
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
    let listener = tokio::net::TcpListener::bind(options.bind).await.map_err(|e| failed(e.to_string()))?;
    let incoming = tokio_stream_of(listener);
    tonic::transport::Server::builder()
        .add_service(FlightServiceServer::with_interceptor(service, check_token))
        .serve_with_incoming_shutdown(incoming, crate::scheduler::stop_signal())
        .await
        .map_err(|e| failed(e.to_string()))
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
    archive: Archive,
    session: SessionOptions,
    runtime: Arc<RuntimeEnv>,
    limit_shown: String,
    read_only: SQLOptions,
}

type DoGetStream = Pin<Box<dyn Stream<Item = Result<FlightData, Status>> + Send + 'static>>;

impl ArchiveService {
    /// A session over the archive's newest snapshot, on the shared runtime.
    async fn open(&self) -> Result<ArchiveSession, Status> {
        let ctx = verbatim_query::context_with_runtime(self.runtime.clone(), &self.session)
            .map_err(|e| Status::internal(e.to_string()))?;
        ArchiveSession::open_in(ctx, &self.archive, &self.session).await.map_err(|e| Status::unavailable(e.to_string()))
    }

    /// `sql` planned in a new session, if it is one query.
    async fn plan(&self, sql: &str) -> Result<(ArchiveSession, LogicalPlan), Status> {
        let session = self.open().await?;
        let plan = match session.ctx.state().create_logical_plan(sql).await {
            Ok(plan) => plan,
            Err(e) => return Err(Status::invalid_argument(session.explain(e, &self.limit_shown).await.to_string())),
        };
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

    /// The rows of `sql`, as Flight data.
    async fn rows(&self, sql: &str) -> Result<Response<DoGetStream>, Status> {
        let (session, plan) = self.plan(sql).await?;
        let schema = served_schema(plan.schema().as_arrow());
        let limit = self.limit_shown.clone();
        let stream = match session.ctx.execute_logical_plan(plan).await {
            Ok(frame) => frame.execute_stream().await,
            Err(e) => Err(e),
        };
        let stream = match stream {
            Ok(stream) => stream,
            Err(e) => return Err(Status::internal(session.explain(e, &limit).await.to_string())),
        };
        let target = schema.clone();
        let batches = stream
            .then(move |batch| {
                let (session, limit, target) = (session.clone(), limit.clone(), target.clone());
                async move {
                    match batch {
                        Ok(batch) => served_batch(&batch, &target).map_err(|e| FlightError::ExternalError(Box::new(e))),
                        Err(e) => Err(FlightError::ExternalError(Box::new(session.explain(e, &limit).await))),
                    }
                }
            })
            .boxed();
        let encoded = FlightDataEncoderBuilder::new().with_schema(schema).build(batches).map_err(|e| match e {
            FlightError::ExternalError(inner) => Status::internal(inner.to_string()),
            other => Status::internal(other.to_string()),
        });
        Ok(Response::new(Box::pin(encoded)))
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
