using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using System.Net.Http;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using M3ter.Auth.Testing;
using M3ter.Auth.TestSupport;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Xunit.Abstractions;

namespace M3ter.Auth.IntegrationTests;

/// <summary>
/// The whole pipeline under sustained load and faults: 32 workers for 30 seconds against 2-second tokens, random
/// revocations and 5% transient token-endpoint failures. Category "Soak": CI runs it; skip it locally with
/// <c>dotnet test --filter Category!=Soak</c>.
/// </summary>
[Trait("Category", "Soak")]
[Collection(SoakCollection.Name)]
public sealed class SoakTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Duration = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan TokenLifetime = TimeSpan.FromSeconds(2);
    private const int Workers = 32;

    [Fact]
    public async Task FullPipeline_ThirtySecondsOfLoadAndFaults_NoFailedCallNoUntokenedRequestBoundedTokenRequestsFlatMemory()
    {
        int unobserved = 0;
        EventHandler<UnobservedTaskExceptionEventArgs> onUnobserved = (_, _) => Interlocked.Increment(ref unobserved);
        TaskScheduler.UnobservedTaskException += onUnobserved;
        try
        {
            await using M3terEmulator m3ter = await M3terEmulator.StartAsync(new M3terEmulatorOptions { RateLimitPerSecond = null, TokenLifetime = TokenLifetime, RecordRequests = false });
            m3ter.TransientTokenFailureRate = 0.05;
            var logs = new CapturingLoggerProvider();
            var services = new ServiceCollection();
            // The library's own categories at Trace; the HTTP stack's at Warning (at Trace, its per-request lines for
            // a million calls would swamp the capture, and what they could leak is covered by the other tests).
            services.AddLogging(b => b.SetMinimumLevel(LogLevel.Warning).AddFilter("M3ter.Auth", LogLevel.Trace).AddProvider(logs));
            services.AddM3terAuth(o =>
            {
                m3ter.Configure(o);
                o.RetryDelay = TimeSpan.FromMilliseconds(20);
                o.TokenRequestTimeout = TimeSpan.FromSeconds(2);
            });
            services.AddHttpClient("m3ter", c => c.BaseAddress = m3ter.BaseAddress).AddM3terAuthHandler();
            services.AddHttpClient("m3ter-ingest", c => c.BaseAddress = m3ter.IngestBaseAddress).AddM3terAuthHandler();
            await using ServiceProvider sp = services.BuildServiceProvider();
            var factory = sp.GetRequiredService<IHttpClientFactory>();

            var clock = Stopwatch.StartNew();
            long calls = 0, failed = 0;
            var failures = new System.Collections.Concurrent.ConcurrentQueue<string>();
            Task[] workers = Enumerable.Range(0, Workers).Select(worker => Task.Run(async () =>
            {
                HttpClient client = factory.CreateClient("m3ter");
                HttpClient ingest = factory.CreateClient("m3ter-ingest");
                for (long i = 0; clock.Elapsed < Duration; i++)
                {
                    try
                    {
                        using HttpResponseMessage response = i % 3 == 0
                            ? await ingest.PostAsync(new Uri($"organizations/{m3ter.OrganizationId}/measurements", UriKind.Relative), Measurement(worker, i))
                            : await client.GetAsync(new Uri($"organizations/{m3ter.OrganizationId}/products", UriKind.Relative));
                        Interlocked.Increment(ref calls);
                        if (!response.IsSuccessStatusCode)
                        {
                            Interlocked.Increment(ref failed);
                            failures.Enqueue($"{(int)response.StatusCode} at {clock.Elapsed}");
                        }
                    }
                    catch (Exception ex)
                    {
                        Interlocked.Increment(ref failed);
                        failures.Enqueue($"{ex.GetType().Name}: {ex.Message} at {clock.Elapsed}");
                    }
                }
            })).ToArray();

            // Revoke the tokens in use at random moments; sample memory once a second after a full collection.
            var random = new Random(20261127);
            int revocations = 0;
            var memory = new List<(TimeSpan At, long Bytes)>();
            var nextRevocation = TimeSpan.FromSeconds(1 + random.NextDouble() * 2);
            var nextSample = TimeSpan.FromSeconds(1);
            while (clock.Elapsed < Duration)
            {
                await Task.Delay(50);
                if (clock.Elapsed >= nextRevocation)
                {
                    revocations += m3ter.RevokeTokensOlderThan(TimeSpan.FromMilliseconds(200)) > 0 ? 1 : 0;
                    nextRevocation = clock.Elapsed + TimeSpan.FromSeconds(0.5 + random.NextDouble() * 2.5);
                }

                if (clock.Elapsed >= nextSample)
                {
                    memory.Add((clock.Elapsed, GC.GetTotalMemory(forceFullCollection: true)));
                    nextSample += TimeSpan.FromSeconds(1);
                }
            }

            await Task.WhenAll(workers).WaitAsync(TimeSpan.FromSeconds(60));
            TimeSpan elapsed = clock.Elapsed;
            GC.Collect();
            GC.WaitForPendingFinalizers();
            GC.Collect();

            // The ideal: one token per refresh period (halfway through a 2 s token, up to 10% earlier with jitter).
            double refreshPeriod = TokenLifetime.TotalSeconds / 2 * 0.9;
            int ideal = (int)Math.Ceiling(elapsed.TotalSeconds / refreshPeriod);
            int issuedBound = ideal + revocations + 5;
            int requestBound = (int)Math.Ceiling(issuedBound * 1.25) + 5; // 5% of token requests fail and are retried
            double firstTen = memory.Where(m => m.At <= TimeSpan.FromSeconds(10)).Average(m => m.Bytes) / 1048576.0;
            double lastTen = memory.Where(m => m.At >= Duration - TimeSpan.FromSeconds(10)).Average(m => m.Bytes) / 1048576.0;
            output.WriteLine($"{calls} calls in {elapsed.TotalSeconds:F1} s ({calls / elapsed.TotalSeconds:F0}/s) by {Workers} workers; {failed} failed");
            output.WriteLine($"{m3ter.TokensIssued} tokens issued (bound {issuedBound}: ideal {ideal} + {revocations} revocations + 5), {m3ter.TokenRequestCount} token requests (bound {requestBound})");
            output.WriteLine($"{m3ter.ApiRequestsRefusedCount} API requests refused for their token (each replayed), {m3ter.ApiRequestsWithoutTokenCount} without a token");
            output.WriteLine($"managed heap after full GC: first 10 s {firstTen:F1} MiB, last 10 s {lastTen:F1} MiB; unobserved task exceptions: {unobserved}");
            foreach (string failure in failures.Take(10))
            {
                output.WriteLine("  failure: " + failure);
            }

            Assert.Equal(0, failed);
            Assert.True(calls > 1000, $"only {calls} calls");
            Assert.Equal(0, m3ter.ApiRequestsWithoutTokenCount);
            Assert.True(revocations >= 5, $"only {revocations} revocations");
            Assert.InRange(m3ter.TokensIssued, (int)(elapsed.TotalSeconds / TokenLifetime.TotalSeconds), issuedBound);
            Assert.InRange(m3ter.TokenRequestCount, m3ter.TokensIssued, requestBound);
            Assert.True(lastTen <= firstTen * 1.25 + 4, $"memory grew from {firstTen:F1} MiB to {lastTen:F1} MiB");
            Assert.Equal(0, unobserved);
            string all = logs.AllText;
            Assert.Contains(logs.Logs, l => l.Category.StartsWith("M3ter.Auth", StringComparison.Ordinal)); // the capture did see the library
            Assert.DoesNotContain(m3ter.ApiSecret, all, StringComparison.Ordinal);
            Assert.DoesNotContain(Convert.ToBase64String(Encoding.UTF8.GetBytes(m3ter.AccessKeyId + ":" + m3ter.ApiSecret)), all, StringComparison.Ordinal);
            Assert.All(m3ter.IssuedTokens, token => Assert.DoesNotContain(token, all, StringComparison.Ordinal));
        }
        finally
        {
            TaskScheduler.UnobservedTaskException -= onUnobserved;
        }
    }

    private static StringContent Measurement(int worker, long i) => new(
        $"{{\"measurements\":[{{\"uid\":\"{worker}-{i}\",\"meter\":\"soak\",\"account\":\"a\",\"ts\":\"2026-11-27T00:00:00Z\",\"measure\":{{\"n\":{i}}}}}]}}",
        Encoding.UTF8,
        "application/json");
}

/// <summary>The soak runs alone, so the other tests' load does not distort its numbers (or its load theirs).</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class SoakCollection
{
    public const string Name = "Soak";
}
