using System;
using System.Net.Http;
using System.Threading;
using System.Threading.Tasks;
using M3ter.Auth.Testing;
using M3ter.Auth.TestSupport;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace M3ter.Auth.IntegrationTests;

/// <summary>One emulator and one DI container per test: the production pipeline (IHttpClientFactory, handlers, sockets).</summary>
public abstract class EmulatorTestBase : IAsyncLifetime
{
    protected M3terEmulator M3ter { get; private set; } = null!;

    protected CapturingLoggerProvider Logs { get; } = new();

    protected ServiceProvider Services { get; private set; } = null!;

    protected HttpClient Api => Services.GetRequiredService<IHttpClientFactory>().CreateClient("m3ter");

    /// <summary>Gets a client for the emulator's ingest host (measurements go there, as to ingest.m3ter.com).</summary>
    protected HttpClient Ingest => Services.GetRequiredService<IHttpClientFactory>().CreateClient("m3ter-ingest");

    /// <summary>Gets the emulator's settings; its rate limit is off, since these tests hammer it on purpose.</summary>
    protected virtual M3terEmulatorOptions EmulatorOptions => new() { RateLimitPerSecond = null };

    /// <summary>Gets how many token requests the library sent (the server may see fewer when it never got to one).</summary>
    protected int TokenAttemptsSent => _tokenAttempts.Count;

    private readonly CountingHandler _tokenAttempts = new();

    public async Task InitializeAsync()
    {
        M3ter = await M3terEmulator.StartAsync(EmulatorOptions);
        var services = new ServiceCollection();
        services.AddLogging(b => b.SetMinimumLevel(LogLevel.Trace).AddProvider(Logs));
        services.AddM3terAuth(o =>
        {
            M3ter.Configure(o);
            o.RetryDelay = TimeSpan.FromMilliseconds(10);
            ConfigureAuth(o);
        });
        services.AddHttpClient("m3ter", c => c.BaseAddress = M3ter.BaseAddress).AddM3terAuthHandler();
        services.AddHttpClient("m3ter-ingest", c => c.BaseAddress = M3ter.IngestBaseAddress).AddM3terAuthHandler();
        services.AddHttpClient(TokenClient.HttpClientName).AddHttpMessageHandler(() => _tokenAttempts.Fresh());
        Services = services.BuildServiceProvider();
    }

    public async Task DisposeAsync()
    {
        await Services.DisposeAsync();
        await M3ter.DisposeAsync();
    }

    protected virtual void ConfigureAuth(M3terAuthOptions options)
    {
    }

    protected string OrgPath(string rest = "") => $"organizations/{M3ter.OrganizationId}{rest}";

    /// <summary>Asserts nothing secret reached the logs: the API secret, the Basic header value, or any token issued.</summary>
    protected void AssertLogsHoldNoSecrets()
    {
        string all = Logs.AllText;
        Assert.NotEmpty(all);
        Assert.DoesNotContain(M3ter.ApiSecret, all, StringComparison.Ordinal);
        Assert.DoesNotContain(Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes(M3ter.AccessKeyId + ":" + M3ter.ApiSecret)), all, StringComparison.Ordinal);
        foreach (string token in M3ter.IssuedTokens)
        {
            Assert.DoesNotContain(token, all, StringComparison.Ordinal);
        }
    }
}

/// <summary>Counts requests through a client's pipeline; one counter shared by every handler instance the factory builds.</summary>
internal sealed class CountingHandler : DelegatingHandler
{
    private readonly CountingHandler? _owner;
    private int _count;

    public CountingHandler()
    {
    }

    private CountingHandler(CountingHandler owner)
    {
        _owner = owner;
    }

    public int Count => Volatile.Read(ref _count);

    public CountingHandler Fresh() => new(this);

    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref (_owner ?? this)._count);
        return base.SendAsync(request, cancellationToken);
    }
}
