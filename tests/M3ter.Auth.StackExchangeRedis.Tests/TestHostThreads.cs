using System;
using System.Runtime.CompilerServices;
using System.Threading;

namespace M3ter.Auth.StackExchangeRedis.Tests;

/// <summary>
/// On a 2-core machine the test host starts with 2-3 thread-pool threads, and blocked ones are replaced only about
/// once a second. Measured here: right after a second multiplexer connected, one Redis call stalled ~900 ms with raw
/// StackExchange.Redis alone (no M3ter.Auth code), and disappeared with more threads. These tests time Redis calls
/// against 250 ms timeouts, so the host gets the threads a real service would have.
/// </summary>
internal static class TestHostThreads
{
#pragma warning disable CA2255 // A test assembly, not a library: set once, before any test runs.
    [ModuleInitializer]
#pragma warning restore CA2255
    internal static void Initialize()
    {
        ThreadPool.GetMinThreads(out int workers, out int io);
        ThreadPool.SetMinThreads(Math.Max(workers, 32), Math.Max(io, 32));
    }
}
