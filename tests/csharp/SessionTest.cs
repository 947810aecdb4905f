// SessionTest.cs: whole sessions through the C# binding on Mono against a real glance-server
// started by its ready line: random key, specified key, visitor-id key, pause, end, and the
// state and parameter errors. Usage: mono SessionTest.exe PATH/TO/glance-server
using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Text.RegularExpressions;
using System.Threading;
using Glance;

static class SessionTest
{
    static int passed, failed;

    static void Check(bool ok, string what)
    {
        if (ok) passed++;
        else { failed++; Console.Error.WriteLine("FAIL: " + what); }
    }

    static readonly BlockingCollection<GlanceEventArgs> events = new BlockingCollection<GlanceEventArgs>();

    static GlanceEventArgs Wait(EventCode code, int secs)
    {
        var deadline = DateTime.UtcNow.AddSeconds(secs);
        while (true)
        {
            var left = deadline - DateTime.UtcNow;
            GlanceEventArgs e;
            if (left <= TimeSpan.Zero || !events.TryTake(out e, left))
            {
                Console.Error.WriteLine("  timed out waiting for " + code);
                return null;
            }
            if (e.Code == code) return e;
            Console.Error.WriteLine("  (skipped " + e.Name + ": " + e.Message + ")");
        }
    }

    static GlanceResult Rejected(Action a)
    {
        try { a(); } catch (GlanceException e) { return e.Result; }
        return GlanceResult.Ok;
    }

    static string Field(string json, string key)
    {
        var m = Regex.Match(json, "\"" + key + "\":\\s*(\"([^\"]*)\"|([0-9]+))");
        return m.Success ? (m.Groups[2].Success && m.Groups[2].Value != "" ? m.Groups[2].Value : m.Groups[3].Value) : null;
    }

    static string Session(GlanceVisitor v, Action start)
    {
        start();
        var c = Wait(EventCode.ConnectedToSession, 20);
        Check(c != null, "connected");
        if (c == null) return "";
        var key = c.Property("sessionkey");
        var info = v.GetSessionInfo();
        Check(info.CallId > 0 && info.Key == key && info.IsConnected, "session info " + info.Key);
        v.Pause(true);
        Check(v.GetSessionInfo().IsPaused, "paused");
        v.Pause(false);
        Check(!v.GetSessionInfo().IsPaused, "resumed");
        v.ShowDisplay(new DisplayParams { DisplayName = "main" });
        Check(Rejected(() => v.ShowDisplay(new DisplayParams { DisplayName = "nope" })) == GlanceResult.InvalidParameter, "unknown display");
        Check(Wait(EventCode.InvalidParameter, 5) != null, "EventInvalidParameter display");
        uint mask = v.AddMaskedRect(5, 5, 40, 20);
        Check(mask != 0, "mask id");
        Check(Rejected(() => v.AddMaskedRect(5, 5, 0, 20)) == GlanceResult.InvalidParameter, "bad mask");
        Check(Wait(EventCode.InvalidParameter, 5) != null, "EventInvalidParameter mask");
        v.RemoveMask(mask);
        Check(Rejected(() => v.RemoveMask(mask)) == GlanceResult.InvalidParameter, "removed twice");
        Check(Wait(EventCode.InvalidParameter, 5) != null, "EventInvalidParameter remove");
        Check(Rejected(() => v.StartSession()) == GlanceResult.InvalidState, "double start");
        Check(Wait(EventCode.InvalidState, 5) != null, "EventInvalidState");
        v.EndSession();
        var e = Wait(EventCode.SessionEnded, 20);
        Check(e != null && e.Property("reason") == "SessionEndReasonThisSide", "ended this side");
        Check(v.GetSessionInfo().CallId == 0, "info cleared");
        return key;
    }

    static int Main(string[] args)
    {
        if (args.Length < 1) { Console.Error.WriteLine("usage: SessionTest.exe PATH/TO/glance-server"); return 2; }
        Environment.SetEnvironmentVariable("GLANCE_SYNTHETIC_DISPLAY", "320x200");
        var state = Path.Combine(Path.GetTempPath(), "glance-cstest-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(state);
        var psi = new ProcessStartInfo(args[0], "--listen 127.0.0.1:0 --state-dir " + state)
        {
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        var server = Process.Start(psi);
        try
        {
            var ready = server.StandardOutput.ReadLine() ?? "";
            var url = Field(ready, "session_url");
            var ca = Field(ready, "ca_cert");
            var group = int.Parse(Field(ready, "group_id") ?? "0");
            Check(url != null && ca != null && group > 0, "ready line: " + ready);

            Check(GlanceVisitor.Version.Length > 0, "version");
            Check(GlanceVisitor.CodeName(EventCode.ConnectedToSession) == "EventConnectedToSession", "code name");
            using (var v = new GlanceVisitor())
            {
                v.Event += (s, e) => events.Add(e);
                Check(Rejected(() => v.StartSession()) == GlanceResult.InvalidState, "start before init");
                Check(Wait(EventCode.InvalidState, 5) != null, "EventInvalidState before init");
                Check(v.TryInit(new VisitorConfig { GroupId = group, VisitorId = "bad id" }) == GlanceResult.InvalidParameter, "bad visitor id");
                var bad = Wait(EventCode.InvalidParameter, 5);
                Check(bad != null && bad.Message.Contains("visitorId"), "names visitorId");
                var cfg = new VisitorConfig { GroupId = group, Name = "C# Test \u00e9\u4e2d", ServiceUrl = url, CaCertPath = ca };
                v.Init(cfg);
                Check(Wait(EventCode.VisitorInitialized, 5) != null, "initialized");
                Check(v.GetDisplayCount() == 1 && v.GetDisplayName(0) == "Synthetic", "displays");
                Check(v.GetDisplayType(0) == DisplayType.Monitor, "display type");
                v.IdentifyMonitors();
                Check(v.GetDisplayName(5) == null, "bad display index");
                Check(Wait(EventCode.InvalidParameter, 5) != null, "EventInvalidParameter index");
                Check(Rejected(() => v.StartSession("bad key!")) == GlanceResult.InvalidParameter, "bad key");
                Check(Wait(EventCode.InvalidParameter, 5) != null, "EventInvalidParameter key");
                var vp = new StartParams();
                vp.DisplayParams.Video = true;
                Check(v.TryStartSession(vp) == GlanceResult.InvalidParameter, "video");
                var re = Wait(EventCode.InvalidParameter, 5);
                Check(re != null && re.Message.Contains("video"), "names video");

                var k = Session(v, () => v.StartSession(GlanceVisitor.KeyTypeRandom));
                Check(k.Length > 0 && k.All(char.IsDigit), "random key " + k);
                k = Session(v, () => v.StartSession(new StartParams { Key = "csharp-key.1", MaxGuests = 3 }));
                Check(k == "csharp-key.1", "specified key " + k);
                cfg.VisitorId = "csharp-visitor";
                v.Init(cfg);
                Check(Wait(EventCode.VisitorInitialized, 5) != null, "re-initialized");
                k = Session(v, () => v.StartSession());
                Check(k == "csharp-visitor", "visitor id key " + k);

                // One-Click Connect through the binding.
                v.SetDefaultUI(false);
                v.PresenceConnect();
                Check(Wait(EventCode.PresenceConnected, 10) != null, "presence connected");
                v.Presence(new Dictionary<string, string> { { "url", "app://csharp" }, { "c_step", "1" } });
                v.SignalAgent("terms", new Dictionary<string, string> { { "status", "displayed" } });
                v.SignalVisibility(false);
                Check(v.TryPresence(new Dictionary<string, string> { { "cart", "1" } }) == GlanceResult.InvalidParameter, "presence name without c_");
                Check(Wait(EventCode.InvalidParameter, 5) != null, "EventInvalidParameter presence");
                v.PresenceDisconnect();
                Check(Wait(EventCode.PresenceDisconnected, 10) != null, "presence disconnected");

                v.StartSession();
                Check(Wait(EventCode.ConnectedToSession, 20) != null, "connected before dispose");
            }
            Check(Wait(EventCode.SessionEnded, 2) != null, "Dispose ends the session");
        }
        finally
        {
            try { server.Kill(); } catch (Exception) { }
        }
        Console.WriteLine("csharp_session_test: {0} passed, {1} failed", passed, failed);
        return failed == 0 ? 0 : 1;
    }
}
