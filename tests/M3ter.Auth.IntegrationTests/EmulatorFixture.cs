using System;
using System.Net.Http;
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

    protected virtual M3terEmulatorOptions EmulatorOptions => new();

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
