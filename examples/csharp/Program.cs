// examples/csharp: the console visitor of examples/c, with the C# binding (bindings/csharp).
//
//   mcs -out:GlanceExample.exe bindings/csharp/Glance.cs examples/csharp/Program.cs
//   LD_LIBRARY_PATH=target/release mono GlanceExample.exe SERVICE_URL [CA_CERT_PEM] [GROUP_ID]
using System;
using System.Threading;
using Glance;

static class Program
{
    static int Main(string[] args)
    {
        if (args.Length < 1)
        {
            Console.Error.WriteLine("usage: GlanceExample.exe SERVICE_URL [CA_CERT_PEM] [GROUP_ID]");
            return 2;
        }
        var ended = new ManualResetEvent(false);
        using (var v = new GlanceVisitor())
        {
            v.Event += (s, e) =>
            {
                Console.WriteLine("[{0}] {1}", e.Name, e.Message);
                foreach (var p in e.Properties) Console.WriteLine("    {0} = {1}", p.Key, p.Value);
                if (e.Code == EventCode.ConnectedToSession)
                    Console.WriteLine("\n    >>> Read this key to the agent: {0} <<<\n", e.Property("sessionkey"));
                if (e.Code == EventCode.SessionEnded) ended.Set();
            };
            Console.CancelKeyPress += (s, e) => { e.Cancel = true; ended.Set(); };
            v.Init(new VisitorConfig
            {
                GroupId = args.Length > 2 ? int.Parse(args[2]) : 1,
                Name = "Example Visitor",
                ServiceUrl = args[0],
                CaCertPath = args.Length > 1 ? args[1] : null,
            });
            v.StartSession(GlanceVisitor.KeyTypeRandom);
            Console.WriteLine("Press Enter or Ctrl-C to end the session.");
            var input = new Thread(() => { Console.ReadLine(); ended.Set(); }) { IsBackground = true };
            input.Start();
            ended.WaitOne();
            try { v.EndSession(); } catch (GlanceException) { /* already ended */ }
        }
        return 0;
    }
}
