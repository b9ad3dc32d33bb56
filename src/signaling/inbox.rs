//! Each socket's inbox: every event of one socket is handled in the order it arrived, one at a
//! time, and its disconnection after all of them.
//!
//! socketioxide starts every `async` event handler in a task of its own, so two events of one
//! socket race: a `null` end-of-candidates could overtake the candidates before it, a `leave` the
//! last signal. Instead, one handler takes every event of a socket (socketioxide's fallback
//! handler, installed at the handshake): its `call` runs on the socket's read path in arrival
//! order, and only appends the event to this queue. One task at a time drains the queue, awaiting
//! each event's handler before the next; it exists only while there is work, so an idle socket
//! costs no task. The disconnection joins the same queue, behind every event read before it.
//!
//! So order is a property of dispatch, not of each handler's timing: a new event is one more arm
//! in [`dispatch`], and it is ordered like the others. Relayed messages go out through the peer's
//! own send queue in the order they are handled, so the peer receives them in order too.

use std::{
    collections::VecDeque,
    sync::{
        Arc, Mutex, MutexGuard, PoisonError,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use socketioxide::{
    SocketIo,
    extract::{AckSender, Event, SocketRef, TryData},
    handler::{FromMessageParts, MessageHandler, Value},
    socket::{DisconnectReason, Sid, Socket},
};

use super::link::Adapter;
use super::{
    Hub, Participant, close_connection, events,
    limits::{RateLimiter, Verdict},
};

/// What the handlers of one socket share: who it is and where it lives.
#[derive(Debug)]
pub(super) struct Connection {
    pub hub: Arc<Hub>,
    pub io: SocketIo<Adapter>,
    pub participant: Participant,
    /// When the socket was opened, and its last event after that (milliseconds), as a sign of
    /// life: a lost person's place is kept for the grace counted from it.
    opened: Instant,
    last_event_ms: Arc<AtomicU64>,
    /// Its silence is watched (it sent `alive`: a page in a call).
    watched: AtomicBool,
}

/// A page that sends `alive` (every 2 s in a call) and then says nothing for this long has lost
/// its connection: the server closes it at once, the others see the person reconnecting (and
/// the desk and presence say so) instead of waiting for the transport's ping timeout (45 s).
const SILENT_LIMIT: Duration = Duration::from_secs(8);

impl Connection {
    /// How long since the socket last sent anything.
    pub fn silent_for(&self) -> Duration {
        let last = Duration::from_millis(self.last_event_ms.load(Ordering::Relaxed));
        self.opened.elapsed().saturating_sub(last)
    }

    fn note_event(&self) {
        let now = u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_event_ms.store(now, Ordering::Relaxed);
    }

    /// From its first `alive` on, watches the socket's silence: past [`SILENT_LIMIT`], while it
    /// is in a call, its connection is closed as lost (the person keeps their place for the grace, counted from
    /// their last event). Sockets that never send `alive` are left to the transport's pings.
    fn watch_silence(&self, socket: SocketRef<Adapter>) {
        if self.watched.swap(true, Ordering::Relaxed) {
            return;
        }
        let (opened, last, hub) = (self.opened, self.last_event_ms.clone(), self.hub.clone());
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(2));
            loop {
                every.tick().await;
                if !socket.connected() {
                    return;
                }
                let heard = Duration::from_millis(last.load(Ordering::Relaxed));
                // Only a person in a call: a relative in the waiting room keeps the socket the
                // transport's pings keep (a page in a background tab may beat once a minute).
                if opened.elapsed().saturating_sub(heard) > SILENT_LIMIT
                    && hub.registry().member_of(socket.id).is_some()
                {
                    tracing::info!(sid = %socket.id, "a page's heartbeat stopped: its connection is lost");
                    super::drop_connection(&socket);
                    return;
                }
            }
        });
    }
}

/// The ordered inbox of one socket, installed as its only event handler.
#[derive(Debug, Clone)]
pub(super) struct Inbox(Arc<Shared>);

#[derive(Debug)]
struct Shared {
    connection: Connection,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    queue: VecDeque<Item>,
    /// A task is draining the queue.
    draining: bool,
    limiter: RateLimiter,
}

#[derive(Debug)]
enum Item {
    Event {
        socket: Arc<Socket<Adapter>>,
        value: Value,
        ack: Option<i64>,
    },
    Disconnected {
        socket: SocketRef<Adapter>,
        reason: DisconnectReason,
    },
    /// Something the server decided about this socket (a nurse let it in).
    Knock { sid: Sid, knock: Knock },
}

/// What the server can hand a socket through its [`Door`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Knock {
    /// The relative waiting on this socket was let in: move them into the call.
    Admitted,
}

/// A way for the server to hand one socket a decision taken elsewhere (a nurse's request), queued
/// behind the socket's own events so that it never races its `join` or its disconnection.
#[derive(Debug, Clone)]
pub(super) struct Door(Inbox);

impl Door {
    /// Queues `knock` for the socket `sid`.
    pub fn knock(&self, sid: Sid, knock: Knock) {
        self.0.push(Item::Knock { sid, knock });
    }
}

/// Marks the inbox's [`MessageHandler`] implementation.
#[derive(Debug)]
pub(super) struct InOrder;

impl Inbox {
    /// Makes this inbox the socket's handler for every event and for its disconnection.
    pub fn install(
        socket: &SocketRef<Adapter>,
        hub: Arc<Hub>,
        io: SocketIo<Adapter>,
        participant: Participant,
    ) {
        let limiter = RateLimiter::new(&hub.config);
        let inbox = Inbox(Arc::new(Shared {
            connection: Connection {
                hub,
                io,
                participant,
                opened: Instant::now(),
                last_event_ms: Arc::new(AtomicU64::new(0)),
                watched: AtomicBool::new(false),
            },
            state: Mutex::new(State {
                queue: VecDeque::new(),
                draining: false,
                limiter,
            }),
        }));
        socket.on_fallback(inbox.clone());
        let door = Door(inbox.clone());
        socket.extensions.insert(door);
        socket.on_disconnect(
            async move |socket: SocketRef<Adapter>, reason: DisconnectReason| {
                inbox.push(Item::Disconnected { socket, reason });
            },
        );
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // The queue stays consistent across a panic: at worst one event is lost.
        self.0.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn push(&self, item: Item) {
        let mut state = self.state();
        state.queue.push_back(item);
        if !state.draining {
            state.draining = true;
            tokio::spawn(self.clone().drain());
        }
    }

    async fn drain(self) {
        let _guard = DrainGuard(&self);
        loop {
            let next = {
                let mut state = self.state();
                let next = state.queue.pop_front();
                if next.is_none() {
                    state.draining = false;
                }
                next
            };
            let Some(item) = next else {
                return;
            };
            dispatch(&self.0.connection, item).await;
        }
    }
}

/// Ends the drain if a handler panicked, so the socket's next event starts a new one.
struct DrainGuard<'a>(&'a Inbox);

impl Drop for DrainGuard<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            tracing::error!("a signaling handler panicked; the socket's queued events are dropped");
            let disconnections: Vec<Item> = {
                let mut state = self.0.state();
                state.draining = false;
                state
                    .queue
                    .drain(..)
                    .filter(|item| matches!(item, Item::Disconnected { .. }))
                    .collect()
            };
            // Its disconnection still runs: a socket must not stay listed (waiting, standing by,
            // or in a call) after it is gone.
            if !disconnections.is_empty() {
                let inbox = self.0.clone();
                tokio::spawn(async move {
                    for item in disconnections {
                        dispatch(&inbox.0.connection, item).await;
                    }
                });
            }
        }
    }
}

impl MessageHandler<Adapter, InOrder> for Inbox {
    fn call(&self, socket: Arc<Socket<Adapter>>, value: Value, ack: Option<i64>) {
        let mut state = self.state();
        match state.limiter.take() {
            Verdict::Allowed => {}
            Verdict::Dropped => {
                tracing::warn!(sid = %socket.id, "dropped a Socket.IO event over the rate limit");
                return;
            }
            Verdict::CutOff => {
                tracing::warn!(sid = %socket.id, "disconnected a socket that kept flooding");
                drop(state);
                tokio::spawn(async move {
                    close_connection(&SocketRef::from(socket));
                });
                return;
            }
        }
        drop(state);
        self.0.connection.note_event();
        self.push(Item::Event { socket, value, ack });
    }
}

/// Hands one event to its handler, or the disconnection to its.
async fn dispatch(connection: &Connection, item: Item) {
    let (socket, mut value, ack) = match item {
        Item::Disconnected { socket, reason } => {
            return events::disconnected(connection, &socket, reason).await;
        }
        Item::Knock { sid, knock } => {
            if let Some(socket) = connection.io.get_socket(sid) {
                match knock {
                    Knock::Admitted => events::admitted(connection, &socket).await,
                }
            }
            return;
        }
        Item::Event { socket, value, ack } => (socket, value, ack),
    };
    let Ok(Event(event)) = Event::from_message_parts(&socket, &mut value, &ack) else {
        tracing::warn!(sid = %socket.id, "dropped a Socket.IO event without a name");
        return;
    };
    match event.as_str() {
        "join" => {
            let reply = AckSender::from_message_parts(&socket, &mut value, &ack).ok();
            let Ok(TryData(join)) = TryData::from_message_parts(&socket, &mut value, &ack);
            let join = join.unwrap_or_default();
            events::join(connection, &SocketRef::from(socket), reply, join).await;
        }
        "signal" => {
            let Ok(TryData(message)) = TryData::from_message_parts(&socket, &mut value, &ack);
            events::signal(connection, &SocketRef::from(socket), message).await;
        }
        "leave" => events::leave(connection, &SocketRef::from(socket)).await,
        "ready" => {
            let reply = AckSender::from_message_parts(&socket, &mut value, &ack).ok();
            events::ready(connection, &SocketRef::from(socket), reply).await;
        }
        "decline" => events::decline(connection, &SocketRef::from(socket)).await,
        "media" => {
            let Ok(TryData(state)) = TryData::from_message_parts(&socket, &mut value, &ack);
            events::media(connection, &SocketRef::from(socket), state).await;
        }
        "quality" => {
            let Ok(TryData(report)) = TryData::from_message_parts(&socket, &mut value, &ack);
            events::quality(connection, &SocketRef::from(socket), report).await;
        }
        "alive" => {
            events::alive(AckSender::from_message_parts(&socket, &mut value, &ack).ok());
            connection.watch_silence(SocketRef::from(socket));
        }
        _ => tracing::warn!(event = %event, "dropped an unknown Socket.IO event"),
    }
}
