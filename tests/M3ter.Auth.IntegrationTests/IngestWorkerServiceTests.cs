using System;
using System.Net;
using System.Net.Http;
using System.Threading;
using System.Linq;
using System.Threading.Tasks;
using IngestWorker;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging.Abstractions;

namespace M3ter.Auth.IntegrationTests;

/// <summary>The ingest worker sample's service on its own: what it does when m3ter is down and the host stops waiting.</summary>
public sealed class IngestWorkerServiceTests
{
    /// <summary>The host's shutdown timeout ends the flush: the worker stops retrying and ends, instead of retrying on until the container is disposed.</summary>
    [Fact]
    public async Task WhenTheShutdownTimeoutPasses_DuringAnOutage_TheWorkerGivesUp()
    {
        int attempts = 0;
        var outage = new Stub(() => Interlocked.Increment(ref attempts));
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromMilliseconds(500));
        builder.Services.AddSingleton<MeasurementBuffer>();
        builder.Services.AddSingleton<IngestStatistics>();
        builder.Services.AddSingleton(new IngestClient(new HttpClient(outage) { BaseAddress = new Uri("https://ingest.m3ter.com/") }, "org"));
        builder.Services.AddSingleton<Microsoft.Extensions.Logging.ILogger<IngestWorkerService>>(NullLogger<IngestWorkerService>.Instance);
        builder.Services.AddHostedService<IngestWorkerService>(); // as IngestWorkerApp does
        using IHost host = builder.Build();
        await host.StartAsync();
        var worker = host.Services.GetServices<IHostedService>().OfType<IngestWorkerService>().Single();
        host.Services.GetRequiredService<MeasurementBuffer>().TryAdd(new Measurement("u-1", "api-calls", "acct", DateTimeOffset.UtcNow, 1));
        for (int i = 0; i < 200 && Volatile.Read(ref attempts) == 0; i++)
        {
            await Task.Delay(25);
        }

        await host.StopAsync(); // returns once the 500 ms shutdown timeout passes

        // The host has given up: the worker must have been told so (it logs what it abandons and ends), not keep
        // retrying until the container is disposed.
        Task ended = await Task.WhenAny(worker.ExecuteTask!, Task.Delay(TimeSpan.FromSeconds(5)));
        Assert.True(ReferenceEquals(ended, worker.ExecuteTask), $"the worker is still retrying 5 s after the host stopped waiting ({Volatile.Read(ref attempts)} attempts so far)");
    }

    /// <summary>IDisposable must tolerate repeats (a container that owns the instance twice disposes it twice).</summary>
    [Fact]
    public void Dispose_Twice_DoesNotThrow()
    {
        var worker = new IngestWorkerService(new MeasurementBuffer(), new IngestClient(new HttpClient(), "org"), new IngestStatistics(), NullLogger<IngestWorkerService>.Instance);
        worker.Dispose();

        Exception? second = Record.Exception(worker.Dispose);

        Assert.Null(second);
    }

    private sealed class Stub(Action onCall) : HttpMessageHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            onCall();
            return Task.FromResult(new HttpResponseMessage(HttpStatusCode.ServiceUnavailable) { Content = new StringContent("down") });
        }
    }
}
