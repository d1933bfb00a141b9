//! [`Worker`]: runs registered functions for jobs from every job server.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tracing::debug;

use super::conn::Conn;
use super::Error;
use crate::proto::{Request, Response};

/// Why a handler did not produce a result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkError {
    /// `WORK_FAIL`
    Fail,
    /// `WORK_EXCEPTION` with this text.
    Exception(Vec<u8>),
}

type Outcome = Result<Vec<u8>, WorkError>;
type Handler = Arc<dyn Fn(Job) -> Pin<Box<dyn Future<Output = Outcome> + Send>> + Send + Sync>;

struct Function {
    name: Bytes,
    timeout: Option<Duration>,
    handler: Handler,
}

/// One job given to a handler (Gearman::Job).
#[derive(Debug)]
pub struct Job {
    handle: Bytes,
    function: Bytes,
    unique: Bytes,
    data: Bytes,
    tx: mpsc::Sender<Request>,
}

impl Job {
    /// The job handle.
    pub fn handle(&self) -> &Bytes {
        &self.handle
    }
    /// The function called.
    pub fn function(&self) -> &Bytes {
        &self.function
    }
    /// The unique id (empty when none).
    pub fn unique(&self) -> &Bytes {
        &self.unique
    }
    /// The workload.
    pub fn data(&self) -> &Bytes {
        &self.data
    }
    /// `WORK_DATA`: a piece of the result, sent now.
    pub async fn send_data(&self, data: impl AsRef<[u8]>) {
        let data = Bytes::copy_from_slice(data.as_ref());
        let handle = self.handle.clone();
        let _ = self.tx.send(Request::WorkData { handle, data }).await;
    }
    /// `WORK_WARNING`
    pub async fn send_warning(&self, data: impl AsRef<[u8]>) {
        let data = Bytes::copy_from_slice(data.as_ref());
        let handle = self.handle.clone();
        let _ = self.tx.send(Request::WorkWarning { handle, data }).await;
    }
    /// `WORK_STATUS numerator denominator`
    pub async fn send_status(&self, numerator: u32, denominator: u32) {
        let req = Request::WorkStatus {
            handle: self.handle.clone(),
            numerator: numerator.to_string().into(),
            denominator: denominator.to_string().into(),
        };
        let _ = self.tx.send(req).await;
    }
}

/// A worker: functions and the servers to take their jobs from.
pub struct Worker {
    servers: Vec<String>,
    functions: Vec<Function>,
    client_id: Option<Bytes>,
    retry: Duration,
    tls: Option<Arc<rustls::ClientConfig>>,
}

impl Worker {
    /// A worker for these job servers (`host:port`).
    pub fn new<I, S>(servers: I) -> Worker
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Worker {
            servers: servers.into_iter().map(Into::into).collect(),
            functions: Vec::new(),
            client_id: None,
            retry: Duration::from_millis(500),
            tls: None,
        }
    }

    /// Speak TLS to every server (see [`crate::tls::client_config`]).
    pub fn tls(&mut self, config: Arc<rustls::ClientConfig>) -> &mut Worker {
        self.tls = Some(config);
        self
    }

    /// `SET_CLIENT_ID`: the name `workers` shows.
    pub fn client_id(&mut self, id: impl AsRef<[u8]>) -> &mut Worker {
        self.client_id = Some(Bytes::copy_from_slice(id.as_ref()));
        self
    }

    /// How long to wait before reconnecting to a lost server.
    pub fn retry_interval(&mut self, d: Duration) -> &mut Worker {
        self.retry = d;
        self
    }

    /// Registers `function` (`CAN_DO`).
    pub fn register<F, Fut, T>(&mut self, function: impl AsRef<[u8]>, handler: F) -> &mut Worker
    where
        F: Fn(Job) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<T, WorkError>> + Send + 'static,
        T: Into<Vec<u8>>,
    {
        self.add(function, None, handler)
    }

    /// Registers `function` with a time limit (`CAN_DO_TIMEOUT`, sent in
    /// milliseconds as gearmand 1.1 reads it; it requeues an expired job).
    pub fn register_with_timeout<F, Fut, T>(
        &mut self,
        function: impl AsRef<[u8]>,
        timeout: Duration,
        handler: F,
    ) -> &mut Worker
    where
        F: Fn(Job) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<T, WorkError>> + Send + 'static,
        T: Into<Vec<u8>>,
    {
        self.add(function, Some(timeout), handler)
    }

    fn add<F, Fut, T>(
        &mut self,
        name: impl AsRef<[u8]>,
        timeout: Option<Duration>,
        f: F,
    ) -> &mut Self
    where
        F: Fn(Job) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<T, WorkError>> + Send + 'static,
        T: Into<Vec<u8>>,
    {
        let f = Arc::new(f);
        let handler: Handler = Arc::new(move |job| {
            let fut = f(job);
            Box::pin(async move { fut.await.map(Into::into) })
        });
        self.functions.push(Function {
            name: Bytes::copy_from_slice(name.as_ref()),
            timeout,
            handler,
        });
        self
    }

    /// Connects to every server and works until [`RunningWorker::stop`].
    pub fn start(self) -> RunningWorker {
        let (stop, stopped) = watch::channel(false);
        let functions = Arc::new(self.functions);
        let tasks = self
            .servers
            .into_iter()
            .map(|addr| {
                let s = Serve {
                    addr,
                    functions: functions.clone(),
                    client_id: self.client_id.clone(),
                    retry: self.retry,
                    tls: self.tls.clone(),
                    stop: stopped.clone(),
                };
                tokio::spawn(s.run())
            })
            .collect();
        RunningWorker { stop, tasks }
    }
}

/// A started worker.
#[derive(Debug)]
pub struct RunningWorker {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl RunningWorker {
    /// Graceful stop: jobs in hand finish and their results are sent,
    /// then every connection closes.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

/// The loop for one server.
struct Serve {
    addr: String,
    functions: Arc<Vec<Function>>,
    client_id: Option<Bytes>,
    retry: Duration,
    tls: Option<Arc<rustls::ClientConfig>>,
    stop: watch::Receiver<bool>,
}

impl Serve {
    async fn run(mut self) {
        while !*self.stop.borrow() {
            match self.session().await {
                Ok(()) => return,
                Err(e) => debug!(server = %self.addr, error = %e, "worker connection lost"),
            }
            let mut stop = self.stop.clone();
            let _ = tokio::time::timeout(self.retry, stop.wait_for(|s| *s)).await;
        }
    }

    /// One connection: register, then grab, run, sleep. `Ok` = stopped.
    async fn session(&mut self) -> Result<(), Error> {
        let mut conn = Conn::connect(&self.addr, Duration::from_secs(5), self.tls.as_ref()).await?;
        if let Some(id) = &self.client_id {
            conn.send(&Request::SetClientId(id.clone())).await?;
        }
        for f in self.functions.iter() {
            let req = match f.timeout {
                None => Request::CanDo(f.name.clone()),
                Some(t) => Request::CanDoTimeout {
                    function: f.name.clone(),
                    timeout: t.as_millis().to_string().into(),
                },
            };
            conn.send(&req).await?;
        }
        loop {
            if *self.stop.borrow() {
                return Ok(());
            }
            conn.send(&Request::Grab(crate::proto::Grab::Uniq)).await?;
            let assigned = loop {
                match conn.recv().await? {
                    Some(Response::JobAssignUniq {
                        handle,
                        function,
                        unique,
                        data,
                    }) => break Some((handle, function, unique, data)),
                    Some(Response::JobAssign {
                        handle,
                        function,
                        data,
                    }) => break Some((handle, function, Bytes::new(), data)),
                    Some(Response::NoJob) => break None,
                    Some(Response::Error { code, text }) => {
                        return Err(Error::Server { code, text })
                    }
                    Some(_) => {}
                    None => return Err(Error::Disconnected),
                }
            };
            match assigned {
                Some((handle, function, unique, data)) => {
                    self.work(&mut conn, handle, function, unique, data).await?
                }
                None => {
                    conn.send(&Request::PreSleep).await?;
                    if self.sleep(&mut conn).await? {
                        return Ok(());
                    }
                }
            }
        }
    }

    /// Waits for a `NOOP`; `true` when stopped instead.
    async fn sleep(&mut self, conn: &mut Conn) -> Result<bool, Error> {
        loop {
            tokio::select! {
                r = conn.recv() => match r? {
                    Some(Response::Noop) => return Ok(false),
                    Some(_) => {}
                    None => return Err(Error::Disconnected),
                },
                _ = self.stop.wait_for(|s| *s) => return Ok(true),
            }
        }
    }

    /// Runs one job to its end (a stop waits for it) and reports it.
    async fn work(
        &self,
        conn: &mut Conn,
        handle: Bytes,
        function: Bytes,
        unique: Bytes,
        data: Bytes,
    ) -> Result<(), Error> {
        let Some(f) = self.functions.iter().find(|f| f.name == function) else {
            return conn.send(&Request::WorkFail { handle }).await;
        };
        let (tx, mut rx) = mpsc::channel(16);
        let job = Job {
            handle: handle.clone(),
            function,
            unique,
            data,
            tx,
        };
        let fut = (f.handler)(job);
        tokio::pin!(fut);
        let outcome = loop {
            tokio::select! {
                out = &mut fut => break out,
                Some(req) = rx.recv() => conn.send(&req).await?,
            }
        };
        while let Ok(req) = rx.try_recv() {
            conn.send(&req).await?;
        }
        let req = match outcome {
            Ok(data) => Request::WorkComplete {
                handle,
                data: data.into(),
            },
            Err(WorkError::Fail) => Request::WorkFail { handle },
            Err(WorkError::Exception(data)) => Request::WorkException {
                handle,
                data: data.into(),
            },
        };
        conn.send(&req).await
    }
}
