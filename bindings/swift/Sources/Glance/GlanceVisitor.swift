// GlanceVisitor.swift: a thin Swift wrapper over the C API (CGlance). Events arrive on the
// SDK's event thread; dispatch to the main queue yourself for UI work.
import CGlance
#if canImport(Darwin)
import Darwin
#else
import Glibc
#endif

public struct GlanceEvent {
    public let code: GlanceEventCode
    public let name: String
    public let message: String
    public let properties: [String: String]
}

public enum GlanceError: Error {
    case rejected(GlanceResult)
}

public final class GlanceVisitor {
    public typealias Handler = (GlanceEvent) -> Void

    private var handle: OpaquePointer?
    private let box: Box

    private final class Box {
        let handler: Handler
        init(_ h: @escaping Handler) { handler = h }
    }

    public init(handler: @escaping Handler) {
        box = Box(handler)
        let user = Unmanaged.passUnretained(box).toOpaque()
        handle = glance_visitor_new({ ev, user in
            guard let ev = ev, let user = user else { return }
            let box = Unmanaged<Box>.fromOpaque(user).takeUnretainedValue()
            var props: [String: String] = [:]
            for i in 0..<glance_event_property_count(ev) {
                if let n = glance_event_property_name(ev, i), let v = glance_event_property(ev, n) {
                    props[String(cString: n)] = String(cString: v)
                }
            }
            let code = glance_event_code(ev)
            box.handler(GlanceEvent(code: code,
                                    name: String(cString: glance_event_code_name(code)),
                                    message: String(cString: glance_event_message(ev)),
                                    properties: props))
        }, user)
    }

    deinit { glance_visitor_free(handle) }

    private func check(_ r: GlanceResult) throws {
        if r != GLANCE_OK { throw GlanceError.rejected(r) }
    }

    public func initVisitor(groupId: Int32, token: String = "", name: String = "",
                            email: String = "", phone: String = "", visitorId: String? = nil,
                            serviceUrl: String? = nil, caCertPath: String? = nil) throws {
        try token.withCString { t in try name.withCString { n in try email.withCString { e in
            try phone.withCString { p in try (visitorId ?? "").withCString { vid in
                try (serviceUrl ?? "").withCString { url in try (caCertPath ?? "").withCString { ca in
                    var c = GlanceVisitorConfig(group_id: groupId, token: t, name: n, email: e,
                                                phone: p, visitor_id: vid,
                                                service_url: serviceUrl == nil ? nil : url,
                                                ca_cert_path: caCertPath == nil ? nil : ca)
                    try check(glance_visitor_init(handle, &c))
                } }
            } }
        } } }
    }

    public func startSession() throws { try check(glance_visitor_start_session(handle)) }
    public func startSession(key: String) throws {
        try key.withCString { try check(glance_visitor_start_session_key(handle, $0)) }
    }
    public func endSession() throws { try check(glance_visitor_end_session(handle)) }
    /// Masks a rectangle of the virtual desktop (a flat fill replaces it before anything is
    /// encoded), in every session until `removeMask`. Returns the mask id.
    public func addMaskedRect(x: Int32, y: Int32, width: Int32, height: Int32) throws -> UInt32 {
        var id: UInt32 = 0
        try check(glance_visitor_add_masked_rect(handle, x, y, width, height, &id))
        return id
    }
    /// Masks a window by its CGWindowID (X11 Window, HWND elsewhere), followed as it moves.
    public func addMaskedWindow(_ nativeWindow: UInt64) throws -> UInt32 {
        var id: UInt32 = 0
        try check(glance_visitor_add_masked_window(handle, nativeWindow, &id))
        return id
    }
    public func removeMask(_ maskId: UInt32) throws { try check(glance_visitor_remove_mask(handle, maskId)) }
    public func pause(_ paused: Bool) throws { try check(glance_visitor_pause(handle, paused)) }
    /// EnableRC(enable): remote control by agents with the privilege (EventRCDisabled when the group forbids it).
    public func enableRC(_ enable: Bool) throws { try check(glance_visitor_enable_rc(handle, enable)) }

    /// defaultUI(enabled) (seed 002) and PresenceVisitor setDefaultUI: the same switch.
    public func setDefaultUI(_ enabled: Bool) throws {
        try check(glance_visitor_set_default_ui(handle, enabled))
    }

    // MARK: One-Click Connect (seed 004, PresenceVisitor)

    public func presenceConnect() throws { try check(glance_presence_connect(handle)) }
    public func presenceDisconnect() throws { try check(glance_presence_disconnect(handle)) }
    public func presence(_ data: [String: String]) throws {
        try withProperties(data) { p, n in try check(glance_presence_send(handle, p, n)) }
    }
    public func signalAgent(_ event: String, _ data: [String: String] = [:]) throws {
        try withProperties(data) { p, n in
            try event.withCString { e in try check(glance_presence_signal_agent(handle, e, p, n)) }
        }
    }
    public func signalVisibility(_ visible: Bool) throws {
        try check(glance_presence_signal_visibility(handle, visible))
    }

    /// Calls `body` with the map as a C array of GlanceProperty, valid during the call.
    private func withProperties(_ data: [String: String],
                                _ body: (UnsafePointer<GlanceProperty>?, Int) throws -> Void) throws {
        var owned: [UnsafeMutablePointer<CChar>] = []
        defer { owned.forEach { free($0) } }
        var props: [GlanceProperty] = []
        for (k, v) in data {
            guard let kp = strdup(k), let vp = strdup(v) else { throw GlanceError.rejected(GLANCE_ERROR_INTERNAL) }
            owned.append(kp)
            owned.append(vp)
            props.append(GlanceProperty(name: kp, value: vp))
        }
        try props.withUnsafeBufferPointer { try body($0.baseAddress, $0.count) }
    }
}
