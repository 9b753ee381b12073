using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Linq;
using System.Net;
using System.Net.Http;
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Threading;
using System.Threading.Tasks;
using M3ter.Auth.Tenants;
using Microsoft.Extensions.DependencyInjection;

namespace M3ter.Auth.Tests.Tenants;

/// <summary>What an adversarial review of the tenant cache proved broken (each failed before its fix).</summary>
public sealed class TenantReviewTests
{
    private static readonly Uri Eu = new("https://api.eu.m3ter.com/");

    /// <summary>
    /// LookUpAsync starts with <c>await Task.Yield()</c>, which posts to the caller's SynchronizationContext: a
    /// synchronous Send from a thread with a single-threaded context (WinForms/WPF/classic ASP.NET) blocks that thread
    /// on a lookup whose first step is queued to the very same thread.
    /// </summary>
    [Fact]
    public async Task SyncSend_ForAColdTenant_OnASingleThreadedSynchronizationContext_DoesNotDeadlock()
    {
        using var host = new TenantHost(tenants: 1);
        HttpClient client = host.Client;
        using var giveUp = new CancellationTokenSource();
        var done = new TaskCompletionSource<object?>(TaskCreationOptions.RunContinuationsAsynchronously);
        var context = new QueueContext();
        var thread = new Thread(() =>
        {
            SynchronizationContext.SetSynchronizationContext(context);
            try
            {
                using HttpResponseMessage response = client.Send(Request("t0", FakeOrganizations.Api), giveUp.Token);
                done.TrySetResult(response.StatusCode);
            }
            catch (Exception ex)
            {
                done.TrySetResult(ex);
            }
        })
        { IsBackground = true };
        thread.Start();

        bool finished = await Task.WhenAny(done.Task, Task.Delay(TimeSpan.FromSeconds(10))) == done.Task;
        int queued = context.Queue.Count; // what the blocked thread was asked to run
        giveUp.Cancel(); // unblocks the thread if it is stuck
        Assert.True(finished, $"Send() on a thread with a single-threaded SynchronizationContext never returned: {queued} callback(s) (the tenant lookup) were queued to the blocked thread.");
        Assert.Equal(HttpStatusCode.OK, await done.Task);
    }

    /// <summary>
    /// The route of a tenant pairs the hosts of the credentials it was built from with a token source that follows the
    /// tenant's current credentials. After a rotation that moves the tenant to another m3ter server, the replay of a
    /// refused request sends the new server's token to the old server's host.
    /// </summary>
    [Fact]
    public async Task AfterARotationToAnotherServer_TheNewCredentialsToken_NeverGoesToTheOldHost()
    {
        using var host = new TenantHost(o => o.IdleTimeout = Timeout.InfiniteTimeSpan);
        host.M3ter.AddKey("key-us", "secret-us", "t0");
        host.Store.Set("t0", "key-us", "secret-us");
        TenantCache cache = host.Services.GetRequiredService<TenantCache>();
        var recorder = new Recorder(host.M3ter.ApiHosts());
        using var client = new HttpClient(new M3terAuthHandler(cache, null, host.Time) { InnerHandler = recorder });

        using (HttpResponseMessage ok = await client.SendAsync(Request("t0", FakeOrganizations.Api)))
        {
            Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        }

        // The tenant moves to the EU server with a new key there; the US key is deactivated and its token revoked.
        host.M3ter.AddKey("key-eu", "secret-eu", "t0");
        host.Store.SetWithBaseAddress("t0", "key-eu", "secret-eu", Eu);
        host.M3ter.RemoveKey("key-us");
        host.M3ter.Revoke(recorder.Calls.Single().Token!);

        using HttpResponseMessage _ = await client.SendAsync(Request("t0", FakeOrganizations.Api));

        Assert.DoesNotContain(recorder.Calls, c => c.Host == FakeOrganizations.Api.Host && c.Token is string t && t.Contains(".key-eu.", StringComparison.Ordinal));
    }

    /// <summary>
    /// A store that throws during the recheck after a refusal is reported as "the credential source has no others",
    /// with the token endpoint's exception inside instead of the store's.
    /// </summary>
    [Fact]
    public async Task AStoreThatThrowsDuringTheRecheck_FailsThatCall_WithTheStoresExceptionInside()
    {
        using var host = RotatedWhileHeld(out M3terToken _);
        var failure = new InvalidOperationException("vault unavailable");
        host.Store.Failure = failure;

        var ex = await Assert.ThrowsAsync<M3terAuthException>(() => host.Tokens.GetTokenAsync("t0").AsTask());

        Assert.Same(failure, ex.InnerException);
    }

    /// <summary>
    /// A store that throws during the recheck is not asked again next time: the recheck's null result is kept for
    /// RejectedCredentialsCacheDuration (30 s), so the rotated key that is in the store is not used and every call fails.
    /// </summary>
    [Fact]
    public async Task AStoreThatThrowsDuringTheRecheck_IsAskedAgainNextTime_AndItsNewCredentialsAreUsed()
    {
        using var host = RotatedWhileHeld(out M3terToken _);
        host.Store.Failure = new InvalidOperationException("vault unavailable");
        await Assert.ThrowsAsync<M3terAuthException>(() => host.Tokens.GetTokenAsync("t0").AsTask());
        host.Store.Failure = null; // the blip is over

        M3terToken token = await host.Tokens.GetTokenAsync("t0");

        Assert.Contains(".key-t0-new.", token.AccessToken, StringComparison.Ordinal);
    }

    /// <summary>
    /// Invalid credentials found by the recheck fault the shared recheck task; every caller for the next
    /// RejectedCredentialsCacheDuration is thrown the same exception instance (its stack trace grows with every throw),
    /// unlike the lookup and the provider, which hand each caller its own (ForCaller).
    /// </summary>
    [Fact]
    public async Task InvalidCredentialsFoundByTheRecheck_ReachEachCallerAsAnExceptionOfItsOwn()
    {
        using var host = new TenantHost(o => o.IdleTimeout = Timeout.InfiniteTimeSpan, tenants: 1);
        M3terToken old = await host.Tokens.GetTokenAsync("t0");
        host.Store.SetWithBaseAddress("t0", "key-new", "secret-new", new Uri("http://insecure.example/"));
        host.M3ter.RemoveKey("key-t0");
        host.Tokens.Invalidate("t0", old);

        var first = await Assert.ThrowsAsync<M3terAuthException>(() => host.Tokens.GetTokenAsync("t0").AsTask());
        var second = await Assert.ThrowsAsync<M3terAuthException>(() => host.Tokens.GetTokenAsync("t0").AsTask());

        Assert.NotSame(first, second);
    }

    /// <summary>
    /// A lookup has no timeout and is not abandoned when every caller gave up: a store call that hangs once wedges the
    /// tenant for good (until Forget or Dispose); every later caller waits on the dead lookup and the store is never
    /// asked again.
    /// </summary>
    [Fact]
    public async Task AHungLookup_WhoseCallersAllGaveUp_DoesNotWedgeTheTenant()
    {
        using var host = new TenantHost(tenants: 1);
        host.Store.Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously); // never completes
        using (var first = new CancellationTokenSource(TimeSpan.FromMilliseconds(200)))
        {
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => host.Tokens.GetTokenAsync("t0", first.Token).AsTask());
        }

        host.Store.Gate = null; // the store answers again

        using var second = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        Exception? failure = await Record.ExceptionAsync(() => host.Tokens.GetTokenAsync("t0", second.Token).AsTask());

        Assert.True(failure is null, $"The tenant stays stuck on the first, hung lookup ({failure?.GetType().Name}); store lookups: {host.Store.LookupsOf("t0")}.");
    }

    /// <summary>
    /// The lookup's task is never observed when its callers gave up before it failed (TokenProvider observes its own
    /// fetch task; the tenant lookup does not), so its failure surfaces as an UnobservedTaskException.
    /// </summary>
    [Fact]
    public async Task ALookupThatFailsAfterItsCallersGaveUp_RaisesNoUnobservedTaskException()
    {
        string tenant = "unobserved-" + Guid.NewGuid().ToString("N");
        var seen = new ConcurrentBag<Exception>();
        EventHandler<UnobservedTaskExceptionEventArgs> onUnobserved = (_, e) =>
        {
            foreach (Exception inner in e.Exception.Flatten().InnerExceptions)
            {
                if (inner.Message.Contains(tenant, StringComparison.Ordinal))
                {
                    seen.Add(inner);
                }
            }
        };
        TaskScheduler.UnobservedTaskException += onUnobserved;
        try
        {
            await FailALookupNobodyWaitsFor(tenant);
            for (int i = 0; i < 5; i++)
            {
                GC.Collect();
                GC.WaitForPendingFinalizers();
            }

            Assert.Empty(seen);
        }
        finally
        {
            TaskScheduler.UnobservedTaskException -= onUnobserved;
        }
    }

    /// <summary>
    /// A held tenant whose token is in its refresh window (valid, refresh running) goes through GetStateAsync, which
    /// takes the one lock of the whole cache, on every call: a held tenant with a valid token waits for any other
    /// tenant's lookup, eviction or sweep. The single-registration provider serves the same case without a lock.
    /// </summary>
    [Fact]
    public async Task AHeldTenantWithAValidTokenInItsRefreshWindow_IsServedWithoutTheCachesLock()
    {
        using var host = new TenantHost(o => o.IdleTimeout = Timeout.InfiniteTimeSpan, tenants: 1);
        TenantCache cache = host.Services.GetRequiredService<TenantCache>();
        M3terToken first = await cache.GetTokenAsync("t0");
        host.M3ter.Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously); // the refresh hangs
        host.Time.Advance(TimeSpan.FromMinutes((4 * 60) + 56)); // past the refresh point, before expiry (5 h)
        await TenantTokenProviderTests.WaitUntil(() => host.M3ter.TokenRequests == 2);

        object gate = typeof(TenantCache).GetField("_gate", BindingFlags.NonPublic | BindingFlags.Instance)!.GetValue(cache)!;
        using var held = new ManualResetEventSlim();
        using var release = new ManualResetEventSlim();
        var holder = new Thread(() =>
        {
            lock (gate)
            {
                held.Set();
                release.Wait();
            }
        })
        { IsBackground = true };
        holder.Start();
        held.Wait();

        Task<M3terToken> call = Task.Run(() => cache.GetTokenAsync("t0").AsTask());
        bool served = await Task.WhenAny(call, Task.Delay(TimeSpan.FromSeconds(2))) == call;
        release.Set();
        holder.Join();
        host.M3ter.Gate.SetResult();

        Assert.True(served, "A held tenant with a valid token waited for the tenant cache's lock.");
        Assert.Same(first, await call);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static async Task FailALookupNobodyWaitsFor(string tenant)
    {
        using var host = new TenantHost();
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        host.Store.Gate = gate;
        host.Store.Failure = new InvalidOperationException("vault unavailable");
        using (var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(100)))
        {
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => host.Tokens.GetTokenAsync(tenant, cts.Token).AsTask());
        }

        gate.SetResult(); // the lookup fails now, with nobody waiting
        await Task.Delay(300);
    }

    /// <summary>t0 held with a token; then its key is rotated in the store and the old one deactivated, and the token invalidated, so the next call is refused and rechecks.</summary>
    private static TenantHost RotatedWhileHeld(out M3terToken old)
    {
        var host = new TenantHost(o => o.IdleTimeout = Timeout.InfiniteTimeSpan, tenants: 1);
        old = host.Tokens.GetTokenAsync("t0").AsTask().GetAwaiter().GetResult();
        host.M3ter.AddKey("key-t0-new", "secret-new", "t0");
        host.Store.Set("t0", "key-t0-new", "secret-new");
        host.M3ter.RemoveKey("key-t0");
        host.Tokens.Invalidate("t0", old);
        return host;
    }

    private static HttpRequestMessage Request(string tenant, Uri host) =>
        new HttpRequestMessage(HttpMethod.Get, new Uri(host, $"organizations/{tenant}/products")).WithM3terTenant(tenant);

    /// <summary>A single-threaded UI-like context: posts are queued, and nothing runs them while its thread is blocked.</summary>
    private sealed class QueueContext : SynchronizationContext
    {
        public BlockingCollection<(SendOrPostCallback Callback, object? State)> Queue { get; } = new();

        public override void Post(SendOrPostCallback d, object? state) => Queue.Add((d, state));

        public override void Send(SendOrPostCallback d, object? state) => throw new NotSupportedException();

        public override SynchronizationContext CreateCopy() => this;
    }

    /// <summary>Records each request's host and bearer token as it leaves for m3ter's API.</summary>
    private sealed class Recorder(HttpMessageHandler inner) : DelegatingHandler(inner)
    {
        public ConcurrentQueue<(string Host, string? Token)> Calls { get; } = new();

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            Calls.Enqueue((request.RequestUri!.Host, request.Headers.Authorization?.Parameter));
            return base.SendAsync(request, cancellationToken);
        }
    }
}
