// aiorsocket's binding of the Aeron C++ client (built against the Aeron 1.11.3 sources by build.py).
//
// What it adds to the plain client, and why:
// * One poller thread per client polls every subscription's images with a back-off idle strategy,
//   without the GIL, and reassembles Aeron fragments into whole messages.  Messages are copied once
//   out of the log buffer (which the driver recycles) into an arena that Python receives as memoryview
//   slices: no per-message bytes object, no second copy.  The event loop learns that messages are
//   waiting through an eventfd, written only when the queue goes from empty to non-empty.
// * The queue is bounded: past `max_pending` bytes not yet taken the poller stops consuming, so the
//   driver's flow control pushes back on the senders instead of this process buffering without end.
// * Images can be paused one by one (an RSocket connection whose session stopped reading).
// * Image ends and client errors (from the conductor thread) reach Python through the same queue, in
//   order with the messages that preceded them.
// * A back-pressured publication can be watched: the poller says when its limit has moved past its
//   position, which is when Aeron takes a message again (or when it lost its subscriber), so the
//   sender retries exactly then rather than on a timer (an asyncio timer waits a millisecond at least).
// * The driver keepalive is the C++ client's own conductor thread, so it never waits for the GIL.

#include <pybind11/pybind11.h>

#include <Aeron.h>
#include <CncFileDescriptor.h>
#include <FragmentAssembler.h>
#include <concurrent/ringbuffer/ManyToOneRingBuffer.h>
#include <util/MemoryMappedFile.h>

#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>
#include <unordered_set>
#include <utility>
#include <vector>

namespace py = pybind11;

namespace {

// offer()'s answer for a message over the publication's maximum: Aeron would throw; a result code
// lets the caller learn which frame of a batch it was.
constexpr std::int64_t MESSAGE_TOO_LONG = -100;

PyObject *aeron_error = nullptr;
PyObject *driver_timeout_error = nullptr;
PyObject *registration_error = nullptr;

// What the queue for Python holds.
enum Kind : int { MESSAGE = 0, IMAGE_CLOSED = 1, IMAGE_LOST = 2, WRITABLE = 3 };

struct Event {
    std::int64_t token;
    std::int32_t session_id;
    std::int64_t offset;
    std::int64_t length;
    Kind kind;
};

struct WritableWatch {
    std::int64_t token;
    std::shared_ptr<aeron::ExclusivePublication> publication;
};

struct ImageEnd {
    std::int64_t token;
    std::int32_t session_id;
    bool end_of_stream;
};

// Message bytes handed to Python in one piece; memoryview slices of it are the frames.
struct Arena {
    std::vector<std::uint8_t> bytes;
};

// Aeron's back-off idle strategy: spin, then yield, then park for exponentially longer.
class Backoff {
public:
    Backoff(int spins, int yields, long min_park_ns, long max_park_ns)
        : max_spins_(spins), max_yields_(yields), min_park_ns_(min_park_ns), max_park_ns_(max_park_ns) {}

    void idle(int work) {
        if (work > 0) {
            spins_ = yields_ = 0;
            park_ns_ = min_park_ns_;
        } else if (spins_ < max_spins_) {
            ++spins_;
        } else if (yields_ < max_yields_) {
            ++yields_;
            std::this_thread::yield();
        } else {
            std::this_thread::sleep_for(std::chrono::nanoseconds(park_ns_));
            park_ns_ = std::min(park_ns_ * 2, max_park_ns_);
        }
    }

private:
    int max_spins_, max_yields_;
    long min_park_ns_, max_park_ns_;
    int spins_ = 0, yields_ = 0;
    long park_ns_ = 0;
};

struct PollOptions {
    int spins;
    int yields;
    long min_park_ns;
    long max_park_ns;
    int fragment_limit;
    std::size_t max_pending;
};

struct State;

// A subscription the poller consumes, with its reassembly buffers and paused images.
struct Watched {
    std::int64_t token;
    std::shared_ptr<aeron::Subscription> subscription;
    std::unique_ptr<aeron::FragmentAssembler> assembler;
    aeron::fragment_handler_t handler;
    std::unordered_set<std::int32_t> paused;
};

struct State {
    // Declared first, destroyed last: the Aeron client keeps a reference to its context.
    aeron::Context context;
    std::shared_ptr<aeron::Aeron> aeron;
    PollOptions options;
    int event_fd = -1;

    std::mutex mutex;  // guards everything below, and is held by the poller while it polls
    std::vector<std::unique_ptr<Watched>> watched;
    std::vector<Event> events;
    std::unique_ptr<Arena> arena = std::make_unique<Arena>();
    std::vector<std::pair<bool, std::string>> errors;
    std::vector<WritableWatch> writable;
    bool signalled = false;

    std::mutex ends_mutex;  // image ends come from the conductor thread
    std::vector<ImageEnd> ends;

    std::atomic<bool> running{false};
    std::thread poller;

    explicit State(const PollOptions &poll_options) : options(poll_options) {}

    ~State() {
        stop();
        watched.clear();
        aeron.reset();  // joins the conductor thread: no handler runs after this
        if (event_fd >= 0) {
            ::close(event_fd);
        }
    }

    void stop() {
        if (running.exchange(false) && poller.joinable()) {
            poller.join();
        }
    }

    // Called with `mutex` held.
    void signal() {
        if (!signalled && (!events.empty() || !errors.empty())) {
            signalled = true;
            std::uint64_t one = 1;
            // A full eventfd counter still wakes the reader, so a failed write loses nothing.
            (void)!::write(event_fd, &one, sizeof(one));
        }
    }

    void report_error(bool fatal, const std::string &message) {
        std::lock_guard<std::mutex> lock(mutex);
        errors.emplace_back(fatal, message);
        signal();
    }

    void append(std::int64_t token, std::int32_t session_id, const std::uint8_t *data, std::int64_t length) {
        auto &bytes = arena->bytes;
        const auto offset = static_cast<std::int64_t>(bytes.size());
        bytes.insert(bytes.end(), data, data + length);
        events.push_back(Event{token, session_id, offset, length, MESSAGE});
    }

    void run() {
        Backoff backoff(options.spins, options.yields, options.min_park_ns, options.max_park_ns);
        while (running.load(std::memory_order_acquire)) {
            int work = 0;
            std::vector<ImageEnd> ended;
            {
                std::lock_guard<std::mutex> lock(ends_mutex);
                ended.swap(ends);
            }
            try {
                std::lock_guard<std::mutex> lock(mutex);
                for (const ImageEnd &end : ended) {
                    for (auto &entry : watched) {
                        if (entry->token == end.token) {
                            entry->assembler->deleteSessionBuffer(end.session_id);
                            entry->paused.erase(end.session_id);
                        }
                    }
                    events.push_back(Event{end.token, end.session_id, 0, 0, end.end_of_stream ? IMAGE_CLOSED : IMAGE_LOST});
                    ++work;
                }
                for (auto it = writable.begin(); it != writable.end();) {
                    aeron::ExclusivePublication &publication = *it->publication;
                    if (publication.isClosed() || !publication.isConnected() ||
                        publication.publicationLimit() > publication.position()) {
                        events.push_back(Event{it->token, 0, 0, 0, WRITABLE});
                        it = writable.erase(it);
                        ++work;
                    } else {
                        ++it;
                    }
                }
                if (arena->bytes.size() < options.max_pending) {
                    for (auto &entry : watched) {
                        Watched &w = *entry;
                        w.subscription->forEachImage([&](aeron::Image &image) {
                            if (w.paused.count(image.sessionId()) == 0) {
                                work += image.poll(w.handler, options.fragment_limit);
                            }
                        });
                    }
                }
                signal();
            } catch (const std::exception &exc) {
                report_error(true, std::string("the Aeron poller failed: ") + exc.what());
                return;
            }
            backoff.idle(work);
        }
    }
};

std::shared_ptr<State> open_state(const std::string &directory, long driver_timeout_ms, const PollOptions &options) {
    auto state = std::make_shared<State>(options);
    State *raw = state.get();
    state->context.aeronDir(directory);
    state->context.mediaDriverTimeout(driver_timeout_ms);
    // The default handler exits the process on a driver timeout; ours reports it to Python.
    state->context.errorHandler([raw](const std::exception &exc) {
        const bool fatal = dynamic_cast<const aeron::util::DriverTimeoutException *>(&exc) != nullptr ||
                           dynamic_cast<const aeron::util::ConductorServiceTimeoutException *>(&exc) != nullptr;
        raw->report_error(fatal, exc.what());
    });
    state->event_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (state->event_fd < 0) {
        throw std::system_error(errno, std::generic_category(), "eventfd");
    }
    {
        py::gil_scoped_release released;
        state->aeron = aeron::Aeron::connect(state->context);
    }
    state->running = true;
    state->poller = std::thread([raw] { raw->run(); });
    return state;
}

class Publication {
public:
    Publication(std::shared_ptr<State> state, std::shared_ptr<aeron::ExclusivePublication> publication)
        : state_(std::move(state)), publication_(std::move(publication)) {}

    std::int64_t offer(py::handle data) {
        if (!publication_) {
            return aeron::PUBLICATION_CLOSED;
        }
        return offer_one(data.ptr());
    }

    // Offers frames[start:] in order and stops at the first that is refused.
    py::tuple offer_many(const py::list &frames, std::size_t start) {
        std::int64_t result = aeron::PUBLICATION_CLOSED;
        if (!publication_) {
            return py::make_tuple(start, result);
        }
        const auto count = static_cast<std::size_t>(PyList_GET_SIZE(frames.ptr()));
        std::size_t index = start;
        for (; index < count; ++index) {
            result = offer_one(PyList_GET_ITEM(frames.ptr(), static_cast<Py_ssize_t>(index)));
            if (result < 0) {
                break;
            }
        }
        return py::make_tuple(index, result);
    }

    // Queues a WRITABLE event for `token` once offer() can succeed again.
    void watch_writable(std::int64_t token) {
        if (!publication_) {
            return;
        }
        std::lock_guard<std::mutex> lock(state_->mutex);
        state_->writable.push_back(WritableWatch{token, publication_});
    }

    bool is_connected() const { return publication_ && publication_->isConnected(); }
    bool is_closed() const { return !publication_ || publication_->isClosed(); }
    int max_message_length() const { return publication_ ? publication_->maxMessageLength() : 0; }
    int session_id() const { return publication_ ? publication_->sessionId() : 0; }
    std::int64_t position() const { return publication_ ? publication_->position() : 0; }

    void close() {
        if (!publication_) {
            return;
        }
        {
            std::lock_guard<std::mutex> lock(state_->mutex);
            auto &writable = state_->writable;
            for (auto it = writable.begin(); it != writable.end();) {
                it = it->publication == publication_ ? writable.erase(it) : it + 1;
            }
        }
        publication_.reset();
        state_.reset();
    }

private:
    std::int64_t offer_one(PyObject *object) {
        Py_buffer view;
        if (PyObject_GetBuffer(object, &view, PyBUF_SIMPLE) != 0) {
            throw py::error_already_set();
        }
        if (view.len > publication_->maxMessageLength()) {
            PyBuffer_Release(&view);
            return MESSAGE_TOO_LONG;
        }
        std::int64_t result;
        try {
            aeron::concurrent::AtomicBuffer buffer(static_cast<std::uint8_t *>(view.buf), static_cast<size_t>(view.len));
            result = publication_->offer(buffer, 0, static_cast<aeron::util::index_t>(view.len));
        } catch (...) {
            PyBuffer_Release(&view);
            throw;
        }
        PyBuffer_Release(&view);
        return result;
    }

    std::shared_ptr<State> state_;
    std::shared_ptr<aeron::ExclusivePublication> publication_;
};

class Subscription {
public:
    Subscription(std::shared_ptr<State> state, std::int64_t token) : state_(std::move(state)), token_(token) {}

    void pause(std::int32_t session_id) { set_paused(session_id, true); }
    void resume(std::int32_t session_id) { set_paused(session_id, false); }

    int image_count() {
        if (!state_) {
            return 0;
        }
        std::lock_guard<std::mutex> lock(state_->mutex);
        Watched *w = find();
        return w ? w->subscription->imageCount() : 0;
    }

    // "address:port" of the publisher behind one image, or None once the image is gone.
    py::object source_identity(std::int32_t session_id) {
        if (!state_) {
            return py::none();
        }
        std::lock_guard<std::mutex> lock(state_->mutex);
        Watched *w = find();
        std::shared_ptr<aeron::Image> image = w ? w->subscription->imageBySessionId(session_id) : nullptr;
        if (!image) {
            return py::none();
        }
        return py::str(image->sourceIdentity());
    }

    void close() {
        if (!state_) {
            return;
        }
        std::unique_ptr<Watched> removed;
        {
            std::lock_guard<std::mutex> lock(state_->mutex);
            auto &watched = state_->watched;
            for (auto it = watched.begin(); it != watched.end(); ++it) {
                if ((*it)->token == token_) {
                    removed = std::move(*it);
                    watched.erase(it);
                    break;
                }
            }
        }
        // Released outside the lock: the conductor calls our image handlers while releasing.
        removed.reset();
        state_.reset();
    }

private:
    Watched *find() {
        for (auto &entry : state_->watched) {
            if (entry->token == token_) {
                return entry.get();
            }
        }
        return nullptr;
    }

    void set_paused(std::int32_t session_id, bool paused) {
        if (!state_) {
            return;
        }
        std::lock_guard<std::mutex> lock(state_->mutex);
        Watched *w = find();
        if (w == nullptr) {
            return;
        }
        if (paused) {
            w->paused.insert(session_id);
        } else {
            w->paused.erase(session_id);
        }
    }

    std::shared_ptr<State> state_;
    std::int64_t token_;
};

class Client {
public:
    Client(const std::string &directory, long driver_timeout_ms, int spins, int yields, long min_park_ns,
           long max_park_ns, int fragment_limit, std::size_t max_pending)
        : state_(open_state(directory, driver_timeout_ms,
                            PollOptions{spins, yields, min_park_ns, max_park_ns, fragment_limit, max_pending})) {}

    std::int64_t add_publication(const std::string &channel, std::int32_t stream_id) {
        auto &aeron = live();
        py::gil_scoped_release released;
        return aeron.addExclusivePublication(channel, stream_id);
    }

    py::object find_publication(std::int64_t registration_id) {
        auto &aeron = live();
        std::shared_ptr<aeron::ExclusivePublication> publication;
        {
            py::gil_scoped_release released;
            publication = aeron.findExclusivePublication(registration_id);
        }
        if (!publication) {
            return py::none();
        }
        return py::cast(Publication(state_, std::move(publication)));
    }

    std::int64_t add_subscription(const std::string &channel, std::int32_t stream_id, std::int64_t token) {
        auto &aeron = live();
        State *raw = state_.get();
        auto on_end = [raw, token](aeron::Image &image) {
            std::lock_guard<std::mutex> lock(raw->ends_mutex);
            raw->ends.push_back(ImageEnd{token, image.sessionId(), image.isEndOfStream()});
        };
        py::gil_scoped_release released;
        return aeron.addSubscription(channel, stream_id, [](aeron::Image &) {}, on_end);
    }

    py::object find_subscription(std::int64_t registration_id, std::int64_t token) {
        auto &aeron = live();
        std::shared_ptr<aeron::Subscription> subscription;
        {
            py::gil_scoped_release released;
            subscription = aeron.findSubscription(registration_id);
        }
        if (!subscription) {
            return py::none();
        }
        auto entry = std::make_unique<Watched>();
        entry->token = token;
        entry->subscription = std::move(subscription);
        State *raw = state_.get();
        entry->assembler = std::make_unique<aeron::FragmentAssembler>(
            [raw, token](aeron::concurrent::AtomicBuffer &buffer, aeron::util::index_t offset,
                         aeron::util::index_t length, aeron::concurrent::logbuffer::Header &header) {
                raw->append(token, header.sessionId(), buffer.buffer() + offset, length);
            });
        entry->handler = entry->assembler->handler();
        {
            std::lock_guard<std::mutex> lock(state_->mutex);
            state_->watched.push_back(std::move(entry));
        }
        return py::cast(Subscription(state_, token));
    }

    int fileno() const { return state_ ? state_->event_fd : -1; }

    // Everything the poller queued: ([(token, session_id, frames | None, kind)], [(fatal, message)]).
    // Consecutive messages of one image come as one list of memoryviews (kind MESSAGE); the other
    // kinds carry no frames.
    py::tuple take() {
        if (!state_) {
            return py::make_tuple(py::list(), py::list());
        }
        std::vector<Event> events;
        std::unique_ptr<Arena> arena;
        std::vector<std::pair<bool, std::string>> errors;
        {
            std::lock_guard<std::mutex> lock(state_->mutex);
            events.swap(state_->events);
            errors.swap(state_->errors);
            if (!state_->arena->bytes.empty()) {
                arena = std::move(state_->arena);
                state_->arena = std::make_unique<Arena>();
            }
            state_->signalled = false;
            std::uint64_t count;
            (void)!::read(state_->event_fd, &count, sizeof(count));
        }
        py::list out;
        py::object base;
        if (arena) {
            py::object owner = py::cast(std::move(arena));
            base = py::reinterpret_steal<py::object>(PyMemoryView_FromObject(owner.ptr()));
            if (!base) {
                throw py::error_already_set();
            }
        }
        py::list run;
        std::int64_t run_token = 0;
        std::int32_t run_session = 0;
        bool in_run = false;
        for (const Event &event : events) {
            if (event.kind != MESSAGE) {
                if (in_run) {
                    out.append(py::make_tuple(run_token, run_session, run, static_cast<int>(MESSAGE)));
                    in_run = false;
                }
                out.append(py::make_tuple(event.token, event.session_id, py::none(), static_cast<int>(event.kind)));
                continue;
            }
            if (!in_run || event.token != run_token || event.session_id != run_session) {
                if (in_run) {
                    out.append(py::make_tuple(run_token, run_session, run, static_cast<int>(MESSAGE)));
                }
                run = py::list();
                run_token = event.token;
                run_session = event.session_id;
                in_run = true;
            }
            PyObject *slice = PySequence_GetSlice(base.ptr(), event.offset, event.offset + event.length);
            if (slice == nullptr) {
                throw py::error_already_set();
            }
            run.append(py::reinterpret_steal<py::object>(slice));
        }
        if (in_run) {
            out.append(py::make_tuple(run_token, run_session, run, static_cast<int>(MESSAGE)));
        }
        py::list reported;
        for (auto &error : errors) {
            reported.append(py::make_tuple(error.first, error.second));
        }
        return py::make_tuple(out, reported);
    }

    void close() {
        if (!state_) {
            return;
        }
        std::shared_ptr<State> state = std::move(state_);
        py::gil_scoped_release released;
        state->stop();
        // The Aeron client itself closes when the last publication or subscription using it is closed.
    }

private:
    aeron::Aeron &live() {
        if (!state_) {
            throw std::logic_error("the Aeron client is closed");
        }
        return *state_->aeron;
    }

    std::shared_ptr<State> state_;
};

// The driver's last heartbeat (ms since the epoch) from DIR/cnc.dat, or None when there is no
// initialised CnC file: lets Python say "no driver" at once instead of waiting for a timeout.
py::object driver_heartbeat(const std::string &directory) {
    const std::string path = directory + "/" + aeron::CncFileDescriptor::CNC_FILE;
    if (aeron::util::MemoryMappedFile::getFileSize(path.c_str()) <= 0) {
        return py::none();
    }
    auto cnc = aeron::util::MemoryMappedFile::mapExisting(path.c_str());
    const std::int32_t version = aeron::CncFileDescriptor::cncVersionVolatile(cnc);
    if (version == 0) {
        return py::none();
    }
    if (version != aeron::CncFileDescriptor::CNC_VERSION) {
        throw aeron::util::IllegalStateException(
            "the media driver at " + directory + " speaks CnC version " + std::to_string(version) +
                "; this client (Aeron " AIORSOCKET_AERON_VERSION ") needs version " +
                std::to_string(aeron::CncFileDescriptor::CNC_VERSION) + ": run a driver of the same Aeron version",
            SOURCEINFO);
    }
    aeron::concurrent::AtomicBuffer to_driver = aeron::CncFileDescriptor::createToDriverBuffer(cnc);
    aeron::concurrent::ringbuffer::ManyToOneRingBuffer ring(to_driver);
    return py::int_(ring.consumerHeartbeatTime());
}

void translate(std::exception_ptr pending) {
    try {
        if (pending) {
            std::rethrow_exception(pending);
        }
    } catch (const aeron::util::DriverTimeoutException &exc) {
        PyErr_SetString(driver_timeout_error, exc.what());
    } catch (const aeron::util::RegistrationException &exc) {
        PyErr_SetString(registration_error, exc.what());
    } catch (const aeron::util::IllegalArgumentException &exc) {
        PyErr_SetString(PyExc_ValueError, exc.what());
    } catch (const aeron::util::SourcedException &exc) {
        PyErr_SetString(aeron_error, exc.what());
    }
}

}  // namespace

PYBIND11_MODULE(_native, m) {
    m.doc() = "aiorsocket's binding of the Aeron " AIORSOCKET_AERON_VERSION " C++ client";
    m.attr("AERON_VERSION") = AIORSOCKET_AERON_VERSION;
    m.attr("NOT_CONNECTED") = aeron::NOT_CONNECTED;
    m.attr("BACK_PRESSURED") = aeron::BACK_PRESSURED;
    m.attr("ADMIN_ACTION") = aeron::ADMIN_ACTION;
    m.attr("PUBLICATION_CLOSED") = aeron::PUBLICATION_CLOSED;
    m.attr("MAX_POSITION_EXCEEDED") = aeron::MAX_POSITION_EXCEEDED;
    m.attr("MESSAGE_TOO_LONG") = MESSAGE_TOO_LONG;
    m.attr("MESSAGE") = static_cast<int>(MESSAGE);
    m.attr("IMAGE_CLOSED") = static_cast<int>(IMAGE_CLOSED);
    m.attr("IMAGE_LOST") = static_cast<int>(IMAGE_LOST);
    m.attr("WRITABLE") = static_cast<int>(WRITABLE);

    // Module-lifetime objects: the references are never released.
    aeron_error = PyErr_NewException("aiorsocket.transports.aeron_client._native.AeronError", PyExc_Exception, nullptr);
    driver_timeout_error =
        PyErr_NewException("aiorsocket.transports.aeron_client._native.DriverTimeoutError", aeron_error, nullptr);
    registration_error =
        PyErr_NewException("aiorsocket.transports.aeron_client._native.RegistrationError", aeron_error, nullptr);
    m.attr("AeronError") = py::handle(aeron_error);
    m.attr("DriverTimeoutError") = py::handle(driver_timeout_error);
    m.attr("RegistrationError") = py::handle(registration_error);
    py::register_exception_translator(translate);

    py::class_<Arena, std::unique_ptr<Arena>>(m, "Arena", py::buffer_protocol())
        .def_buffer([](Arena &arena) {
            return py::buffer_info(arena.bytes.data(), static_cast<py::ssize_t>(arena.bytes.size()), true);
        });

    py::class_<Publication>(m, "Publication")
        .def("offer", &Publication::offer, py::arg("data"))
        .def("offer_many", &Publication::offer_many, py::arg("frames"), py::arg("start"))
        .def("watch_writable", &Publication::watch_writable, py::arg("token"))
        .def_property_readonly("is_connected", &Publication::is_connected)
        .def_property_readonly("is_closed", &Publication::is_closed)
        .def_property_readonly("max_message_length", &Publication::max_message_length)
        .def_property_readonly("session_id", &Publication::session_id)
        .def_property_readonly("position", &Publication::position)
        .def("close", &Publication::close);

    py::class_<Subscription>(m, "Subscription")
        .def("pause", &Subscription::pause, py::arg("session_id"))
        .def("resume", &Subscription::resume, py::arg("session_id"))
        .def_property_readonly("image_count", &Subscription::image_count)
        .def("source_identity", &Subscription::source_identity, py::arg("session_id"))
        .def("close", &Subscription::close);

    py::class_<Client>(m, "Client")
        .def(py::init<const std::string &, long, int, int, long, long, int, std::size_t>(), py::arg("directory"),
             py::arg("driver_timeout_ms"), py::arg("spins"), py::arg("yields"), py::arg("min_park_ns"),
             py::arg("max_park_ns"), py::arg("fragment_limit"), py::arg("max_pending"))
        .def("add_publication", &Client::add_publication, py::arg("channel"), py::arg("stream_id"))
        .def("find_publication", &Client::find_publication, py::arg("registration_id"))
        .def("add_subscription", &Client::add_subscription, py::arg("channel"), py::arg("stream_id"),
             py::arg("token"))
        .def("find_subscription", &Client::find_subscription, py::arg("registration_id"), py::arg("token"))
        .def("fileno", &Client::fileno)
        .def("take", &Client::take)
        .def("close", &Client::close);

    m.def("driver_heartbeat", &driver_heartbeat, py::arg("directory"));
}
