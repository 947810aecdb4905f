// Glance.cs: the C# binding of the Glance visitor SDK over libglance (P/Invoke).
//
//   using (var v = new Glance.GlanceVisitor()) {
//       v.Event += (s, e) => Console.WriteLine(e.Name);   // raised on the SDK's event thread
//       v.Init(new Glance.VisitorConfig { GroupId = 1, ServiceUrl = url });
//       v.StartSession(Glance.GlanceVisitor.KeyTypeRandom);
//   }
//
// Strings cross as UTF-8. The callback delegate is kept alive for the handle's lifetime. Calls
// rejected at once throw GlanceException (the SDK also fires EventInvalidParameter or
// EventInvalidState); the Try* variants return the GlanceResult instead.
using System;
using System.Collections.Generic;
using System.Runtime.InteropServices;
using System.Text;

namespace Glance
{
    public enum GlanceResult
    {
        Ok = 0,
        NullArgument = -1,
        InvalidUtf8 = -2,
        InvalidParameter = -3,
        InvalidState = -4,
        InvalidHandle = -5,
        Panic = -6,
        Internal = -7,
    }

    public enum EventType { Assert = 0, Info = 1, Warning = 2, Error = 3 }

    public enum DisplayType { None = -1, Monitor = 0, Device = 1 }

    /// <summary>Event codes with the seed's names (without the "Event" prefix).</summary>
    public enum EventCode
    {
        None = 0, InvalidParameter = 1, InvalidState = 2, VisitorInitialized = 3,
        PrivilegeViolation = 4, UpgradeAvailable = 5, UpgradeRequired = 6,
        CompositionDisabled = 7, ConnectedToSession = 8, SwitchingToView = 9,
        StartSessionFailed = 10, SessionEnded = 11, Tunneling = 12, ConnectionWarning = 13,
        ClearWarning = 14, GuestCountChange = 15, RCDisabled = 16, DeviceDisconnected = 17,
        DeviceReconnected = 18, Exception = 19, ScreenshareInvitation = 20,
        MessageReceived = 21, ChildSessionStarted = 22, ChildSessionEnded = 23,
        JoinChildSessionFailed = 24, PresenceConnected = 25, PresenceConnectFail = 26,
        PresenceShowTerms = 27, PresenceSignal = 28, PresenceBlur = 29,
        PresenceSendFail = 30, PresenceNotConfigured = 31, PresenceDisconnected = 32,
        ApplicationHidden = 33,
    }

    public class GlanceException : Exception
    {
        public GlanceResult Result { get; }
        public GlanceException(GlanceResult r, string what) : base(what + ": " + r) { Result = r; }
    }

    /// <summary>An event, copied out of the callback.</summary>
    public class GlanceEventArgs : EventArgs
    {
        public EventCode Code { get; internal set; }
        public EventType Type { get; internal set; }
        public string Name { get; internal set; }
        public string Message { get; internal set; }
        public IReadOnlyDictionary<string, string> Properties { get; internal set; }
        public string Property(string name)
        {
            string v;
            return Properties.TryGetValue(name, out v) ? v : null;
        }
    }

    public class VisitorConfig
    {
        public int GroupId;
        public string Token, Name, Email, Phone, VisitorId, ServiceUrl, CaCertPath;
    }

    public class DisplayParams
    {
        /// <summary>Null or empty (the default): this application's windows, on the monitor that holds its main
        /// window, everything else flat-filled. "main": the primary monitor whole. A name from GetDisplayName:
        /// that monitor whole. "Applications" with Application (a process name or id): that application.</summary>
        public string DisplayName;
        public float Scale = 1.0f;
        public int CaptureWidth, CaptureHeight;
        public bool Video;
        public string Application;
    }

    public class StartParams
    {
        public long MainCallId;
        public int MaxGuests;
        public string Key;
        public DisplayParams DisplayParams = new DisplayParams();
        public bool ForceTunnel, ReportErrors, Persist, Paused, PresenceStart;
    }

    public class SessionInfo
    {
        public long CallId;
        public int NGuests;
        public string Key, DisplayName;
        public bool RcEnabled, IsPaused, IsConnected, IsShowing, IsViewing;
    }

    /// <summary>Owns a GlanceVisitor handle; freeing ends any session.</summary>
    public sealed class GlanceVisitorHandle : SafeHandle
    {
        public GlanceVisitorHandle() : base(IntPtr.Zero, true) { }
        public override bool IsInvalid { get { return handle == IntPtr.Zero; } }
        protected override bool ReleaseHandle()
        {
            Native.glance_visitor_free(handle);
            return true;
        }
    }

    internal static class Native
    {
        const string Lib = "glance";

        [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
        internal delegate void EventCallback(IntPtr ev, IntPtr userData);

        [StructLayout(LayoutKind.Sequential)]
        internal struct Config
        {
            public int group_id;
            public IntPtr token, name, email, phone, visitor_id, service_url, ca_cert_path;
        }

        [StructLayout(LayoutKind.Sequential)]
        internal struct NDisplayParams
        {
            public IntPtr display_name;
            public float scale;
            public int capture_width, capture_height;
            [MarshalAs(UnmanagedType.I1)] public bool video;
            public IntPtr application;
        }

        [StructLayout(LayoutKind.Sequential)]
        internal struct NStartParams
        {
            public long main_call_id;
            public int max_guests;
            public IntPtr key;
            public NDisplayParams display_params;
            [MarshalAs(UnmanagedType.I1)] public bool force_tunnel;
            [MarshalAs(UnmanagedType.I1)] public bool report_errors;
            [MarshalAs(UnmanagedType.I1)] public bool persist;
            [MarshalAs(UnmanagedType.I1)] public bool paused;
            [MarshalAs(UnmanagedType.I1)] public bool presence_start;
        }

        // GlanceSessionInfo: the C layout (char arrays, one-byte bools).
        [StructLayout(LayoutKind.Sequential)]
        internal struct NSessionInfo
        {
            public long call_id;
            public int n_guests;
            [MarshalAs(UnmanagedType.ByValArray, SizeConst = 256)] public byte[] glance_address;
            [MarshalAs(UnmanagedType.ByValArray, SizeConst = 64)] public byte[] key;
            [MarshalAs(UnmanagedType.ByValArray, SizeConst = 256)] public byte[] host_name;
            public byte rc_requested, is_guest, is_reverse, rc_enabled, sb_enabled,
                gestures_enabled, is_paused, is_connected, is_showing, is_viewing;
            [MarshalAs(UnmanagedType.ByValArray, SizeConst = 256)] public byte[] display_name;
        }

        [DllImport(Lib)] internal static extern GlanceVisitorHandle glance_visitor_new(EventCallback cb, IntPtr userData);
        [DllImport(Lib)] internal static extern void glance_visitor_free(IntPtr v);
        [DllImport(Lib)] internal static extern int glance_visitor_init(GlanceVisitorHandle v, ref Config c);
        [DllImport(Lib)] internal static extern int glance_visitor_start_session(GlanceVisitorHandle v);
        [DllImport(Lib)] internal static extern int glance_visitor_start_session_key(GlanceVisitorHandle v, byte[] key);
        [DllImport(Lib)] internal static extern void glance_start_params_init(out NStartParams p);
        [DllImport(Lib)] internal static extern int glance_visitor_start_session_params(GlanceVisitorHandle v, ref NStartParams p);
        [DllImport(Lib)] internal static extern int glance_visitor_end_session(GlanceVisitorHandle v);
        [DllImport(Lib)] internal static extern int glance_visitor_show_display(GlanceVisitorHandle v, ref NDisplayParams p);
        [DllImport(Lib)] internal static extern int glance_visitor_add_masked_rect(GlanceVisitorHandle v, int x, int y, int width, int height, out uint id);
        [DllImport(Lib)] internal static extern int glance_visitor_add_masked_window(GlanceVisitorHandle v, ulong nativeWindow, out uint id);
        [DllImport(Lib)] internal static extern int glance_visitor_remove_mask(GlanceVisitorHandle v, uint id);
        [DllImport(Lib)] internal static extern int glance_visitor_pause(GlanceVisitorHandle v, [MarshalAs(UnmanagedType.I1)] bool pause);
        [DllImport(Lib)] internal static extern int glance_visitor_enable_rc(GlanceVisitorHandle v, [MarshalAs(UnmanagedType.I1)] bool enable);
        [DllImport(Lib)] internal static extern int glance_visitor_get_session_info(GlanceVisitorHandle v, out NSessionInfo info);
        [DllImport(Lib)] internal static extern int glance_visitor_get_display_count(GlanceVisitorHandle v);
        [DllImport(Lib)] internal static extern int glance_visitor_identify_monitors(GlanceVisitorHandle v);
        [DllImport(Lib)] internal static extern int glance_visitor_get_main_monitor(GlanceVisitorHandle v);
        [DllImport(Lib)] internal static extern int glance_visitor_get_display_type(GlanceVisitorHandle v, int n);
        [DllImport(Lib)] internal static extern IntPtr glance_visitor_get_display_name(GlanceVisitorHandle v, int n);
        [DllImport(Lib)] internal static extern void glance_string_free(IntPtr s);
        [DllImport(Lib)] internal static extern IntPtr glance_version();
        [DllImport(Lib)] internal static extern int glance_event_code(IntPtr e);
        [DllImport(Lib)] internal static extern int glance_event_type(IntPtr e);
        [DllImport(Lib)] internal static extern IntPtr glance_event_message(IntPtr e);
        [DllImport(Lib)] internal static extern UIntPtr glance_event_property_count(IntPtr e);
        [DllImport(Lib)] internal static extern IntPtr glance_event_property_name(IntPtr e, UIntPtr i);
        [DllImport(Lib)] internal static extern IntPtr glance_event_property(IntPtr e, IntPtr name);
        [DllImport(Lib)] internal static extern IntPtr glance_event_code_name(int code);

        [StructLayout(LayoutKind.Sequential)]
        internal struct NProperty { public IntPtr name; public IntPtr value; }
        [DllImport(Lib)] internal static extern int glance_visitor_set_default_ui(GlanceVisitorHandle v, [MarshalAs(UnmanagedType.I1)] bool enabled);
        [DllImport(Lib)] internal static extern int glance_presence_connect(GlanceVisitorHandle v);
        [DllImport(Lib)] internal static extern int glance_presence_disconnect(GlanceVisitorHandle v);
        [DllImport(Lib)] internal static extern int glance_presence_send(GlanceVisitorHandle v, NProperty[] props, UIntPtr n);
        [DllImport(Lib)] internal static extern int glance_presence_signal_agent(GlanceVisitorHandle v, byte[] ev, NProperty[] props, UIntPtr n);
        [DllImport(Lib)] internal static extern int glance_presence_signal_visibility(GlanceVisitorHandle v, [MarshalAs(UnmanagedType.I1)] bool visible);

        internal static byte[] Utf8(string s)
        {
            if (s == null) return null;
            var b = Encoding.UTF8.GetBytes(s);
            var z = new byte[b.Length + 1];
            Buffer.BlockCopy(b, 0, z, 0, b.Length);
            return z;
        }

        internal static string FromUtf8(IntPtr p)
        {
            if (p == IntPtr.Zero) return null;
            int n = 0;
            while (Marshal.ReadByte(p, n) != 0) n++;
            var b = new byte[n];
            Marshal.Copy(p, b, 0, n);
            return Encoding.UTF8.GetString(b);
        }

        internal static string FromFixed(byte[] b)
        {
            if (b == null) return "";
            int n = Array.IndexOf(b, (byte)0);
            return Encoding.UTF8.GetString(b, 0, n < 0 ? b.Length : n);
        }
    }

    /// <summary>Unmanaged UTF-8 copies of strings for one call, freed on Dispose.</summary>
    internal sealed class Utf8Args : IDisposable
    {
        readonly List<IntPtr> ptrs = new List<IntPtr>();
        public IntPtr Add(string s)
        {
            if (s == null) return IntPtr.Zero;
            var b = Native.Utf8(s);
            var p = Marshal.AllocHGlobal(b.Length);
            Marshal.Copy(b, 0, p, b.Length);
            ptrs.Add(p);
            return p;
        }
        public void Dispose()
        {
            foreach (var p in ptrs) Marshal.FreeHGlobal(p);
            ptrs.Clear();
        }
    }

    /// <summary>The visitor side of Glance screen sharing (seed 000's GlanceVisitor).</summary>
    public sealed class GlanceVisitor : IDisposable
    {
        public const string KeyTypeRandom = "GLANCE_KEYTYPE_RANDOM";

        readonly GlanceVisitorHandle handle;
        // Kept alive as long as the handle: the SDK calls it from its event thread.
        readonly Native.EventCallback callback;

        /// <summary>Raised on the SDK's event thread, in order.</summary>
        public event EventHandler<GlanceEventArgs> Event;

        public GlanceVisitor()
        {
            callback = OnNativeEvent;
            handle = Native.glance_visitor_new(callback, IntPtr.Zero);
            if (handle.IsInvalid) throw new GlanceException(GlanceResult.Internal, "glance_visitor_new");
        }

        public static string Version { get { return Native.FromUtf8(Native.glance_version()); } }

        public static string CodeName(EventCode c) { return Native.FromUtf8(Native.glance_event_code_name((int)c)); }

        void OnNativeEvent(IntPtr ev, IntPtr userData)
        {
            try
            {
                var props = new Dictionary<string, string>();
                ulong n = (ulong)Native.glance_event_property_count(ev);
                for (ulong i = 0; i < n; i++)
                {
                    IntPtr name = Native.glance_event_property_name(ev, (UIntPtr)i);
                    if (name == IntPtr.Zero) continue;
                    props[Native.FromUtf8(name)] = Native.FromUtf8(Native.glance_event_property(ev, name)) ?? "";
                }
                var code = (EventCode)Native.glance_event_code(ev);
                var args = new GlanceEventArgs
                {
                    Code = code,
                    Type = (EventType)Native.glance_event_type(ev),
                    Name = CodeName(code),
                    Message = Native.FromUtf8(Native.glance_event_message(ev)),
                    Properties = props,
                };
                var h = Event;
                if (h != null) h(this, args);
            }
            catch (Exception)
            {
                // An exception must not unwind into the SDK's thread.
            }
        }

        static void Check(int r, string what)
        {
            if (r != 0) throw new GlanceException((GlanceResult)r, what);
        }

        public GlanceResult TryInit(VisitorConfig c)
        {
            using (var a = new Utf8Args())
            {
                var n = new Native.Config
                {
                    group_id = c.GroupId,
                    token = a.Add(c.Token), name = a.Add(c.Name), email = a.Add(c.Email),
                    phone = a.Add(c.Phone), visitor_id = a.Add(c.VisitorId),
                    service_url = a.Add(c.ServiceUrl), ca_cert_path = a.Add(c.CaCertPath),
                };
                return (GlanceResult)Native.glance_visitor_init(handle, ref n);
            }
        }
        public void Init(VisitorConfig c) { var r = TryInit(c); if (r != GlanceResult.Ok) throw new GlanceException(r, "Init"); }

        public void StartSession() { Check(Native.glance_visitor_start_session(handle), "StartSession"); }
        public void StartSession(string key) { Check(Native.glance_visitor_start_session_key(handle, Native.Utf8(key)), "StartSession(key)"); }

        public GlanceResult TryStartSession(StartParams p)
        {
            Native.NStartParams n;
            Native.glance_start_params_init(out n);
            using (var a = new Utf8Args())
            {
                n.main_call_id = p.MainCallId;
                n.max_guests = p.MaxGuests;
                n.key = a.Add(p.Key);
                n.display_params.display_name = a.Add(p.DisplayParams.DisplayName);
                n.display_params.scale = p.DisplayParams.Scale;
                n.display_params.capture_width = p.DisplayParams.CaptureWidth;
                n.display_params.capture_height = p.DisplayParams.CaptureHeight;
                n.display_params.video = p.DisplayParams.Video;
                n.display_params.application = a.Add(p.DisplayParams.Application);
                n.force_tunnel = p.ForceTunnel;
                n.report_errors = p.ReportErrors;
                n.persist = p.Persist;
                n.paused = p.Paused;
                n.presence_start = p.PresenceStart;
                return (GlanceResult)Native.glance_visitor_start_session_params(handle, ref n);
            }
        }
        public void StartSession(StartParams p) { var r = TryStartSession(p); if (r != GlanceResult.Ok) throw new GlanceException(r, "StartSession(params)"); }

        public void EndSession() { Check(Native.glance_visitor_end_session(handle), "EndSession"); }

        public void ShowDisplay(DisplayParams d)
        {
            using (var a = new Utf8Args())
            {
                var n = new Native.NDisplayParams
                {
                    display_name = a.Add(d.DisplayName), scale = d.Scale,
                    capture_width = d.CaptureWidth, capture_height = d.CaptureHeight,
                    video = d.Video, application = a.Add(d.Application),
                };
                Check(Native.glance_visitor_show_display(handle, ref n), "ShowDisplay");
            }
        }
        /// <summary>Masks a rectangle of the virtual desktop (a flat fill replaces it before anything is encoded),
        /// in every session until RemoveMask. Returns the mask id.</summary>
        public uint AddMaskedRect(int x, int y, int width, int height)
        {
            Check(Native.glance_visitor_add_masked_rect(handle, x, y, width, height, out uint id), "AddMaskedRect");
            return id;
        }
        /// <summary>Masks a window by native handle (HWND, X11 Window, CGWindowID), followed as it moves.</summary>
        public uint AddMaskedWindow(ulong nativeWindow)
        {
            Check(Native.glance_visitor_add_masked_window(handle, nativeWindow, out uint id), "AddMaskedWindow");
            return id;
        }
        public void RemoveMask(uint maskId) { Check(Native.glance_visitor_remove_mask(handle, maskId), "RemoveMask"); }
        public void Pause(bool pause) { Check(Native.glance_visitor_pause(handle, pause), "Pause"); }
        /// <summary>EnableRC(enable): remote control by agents with the privilege (EventRCDisabled when the group forbids it).</summary>
        public void EnableRC(bool enable) { Check(Native.glance_visitor_enable_rc(handle, enable), "EnableRC"); }

        /// <summary>defaultUI(enabled) (seed 002) and PresenceVisitor.SetDefaultUI: the same switch.</summary>
        public void SetDefaultUI(bool enabled) { Check(Native.glance_visitor_set_default_ui(handle, enabled), "SetDefaultUI"); }

        // One-Click Connect (seed 004, PresenceVisitor).
        public void PresenceConnect() { Check(Native.glance_presence_connect(handle), "PresenceConnect"); }
        public void PresenceDisconnect() { Check(Native.glance_presence_disconnect(handle), "PresenceDisconnect"); }

        static Native.NProperty[] Props(Utf8Args a, IDictionary<string, string> data)
        {
            var list = new List<Native.NProperty>();
            if (data != null)
                foreach (var kv in data)
                    list.Add(new Native.NProperty { name = a.Add(kv.Key), value = a.Add(kv.Value) });
            return list.ToArray();
        }

        public GlanceResult TryPresence(IDictionary<string, string> data)
        {
            using (var a = new Utf8Args())
            {
                var p = Props(a, data);
                return (GlanceResult)Native.glance_presence_send(handle, p, (UIntPtr)p.Length);
            }
        }
        public void Presence(IDictionary<string, string> data) { Check((int)TryPresence(data), "Presence"); }

        public void SignalAgent(string eventName, IDictionary<string, string> data)
        {
            using (var a = new Utf8Args())
            {
                var p = Props(a, data);
                Check(Native.glance_presence_signal_agent(handle, Native.Utf8(eventName), p, (UIntPtr)p.Length), "SignalAgent");
            }
        }
        public void SignalVisibility(bool visible) { Check(Native.glance_presence_signal_visibility(handle, visible), "SignalVisibility"); }

        public SessionInfo GetSessionInfo()
        {
            Native.NSessionInfo n;
            Check(Native.glance_visitor_get_session_info(handle, out n), "GetSessionInfo");
            return new SessionInfo
            {
                CallId = n.call_id,
                NGuests = n.n_guests,
                Key = Native.FromFixed(n.key),
                DisplayName = Native.FromFixed(n.display_name),
                RcEnabled = n.rc_enabled != 0,
                IsPaused = n.is_paused != 0,
                IsConnected = n.is_connected != 0,
                IsShowing = n.is_showing != 0,
                IsViewing = n.is_viewing != 0,
            };
        }

        public void IdentifyMonitors() { Check(Native.glance_visitor_identify_monitors(handle), "IdentifyMonitors"); }
        public int GetDisplayCount() { return Native.glance_visitor_get_display_count(handle); }
        public int GetMainMonitor() { return Native.glance_visitor_get_main_monitor(handle); }
        public DisplayType GetDisplayType(int n) { return (DisplayType)Native.glance_visitor_get_display_type(handle, n); }
        public string GetDisplayName(int n)
        {
            IntPtr p = Native.glance_visitor_get_display_name(handle, n);
            if (p == IntPtr.Zero) return null;
            try { return Native.FromUtf8(p); } finally { Native.glance_string_free(p); }
        }

        /// <summary>Ends any session (EventSessionEnded is raised first) and frees the handle.</summary>
        public void Dispose()
        {
            handle.Dispose();
            GC.KeepAlive(callback);
        }
    }
}
