using System;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace M3ter.Auth.Tests;

internal static class TestOptions
{
    public const string KeyId = "test-key-id";
    public const string Secret = "s3cr3t-Value-That-Must-Never-Leak-123456";

    /// <summary>The Basic header value for <see cref="KeyId"/>:<see cref="Secret"/>, which must never leak either.</summary>
    public static readonly string BasicValue = Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes(KeyId + ":" + Secret));

    public static M3terAuthOptions Create(Action<M3terAuthOptions>? configure = null)
    {
        var options = new M3terAuthOptions
        {
            AccessKeyId = KeyId,
            ApiSecret = Secret,
            OrganizationId = "org-1",
            RetryDelay = TimeSpan.Zero,
        };
        configure?.Invoke(options);
        return options;
    }

    public static FakeTimeProvider Clock() => new(new DateTimeOffset(2026, 11, 27, 12, 0, 0, TimeSpan.Zero));
}

/// <summary>Waits on the real clock for what other threads do (a background fetch, a timer's callback), up to 5 s.</summary>
internal static class TestWait
{
    public static async Task UntilAsync(Func<bool> condition)
    {
        for (int i = 0; i < 500 && !condition(); i++)
        {
            await Task.Delay(10);
        }

        Assert.True(condition(), "condition not reached within 5 s");
    }
}

/// <summary>An <see cref="ITokenClient"/> whose behaviour each test scripts; counts calls and issues numbered tokens.</summary>
internal sealed class FakeTokenClient(TimeProvider time, TimeSpan? lifetime = null) : ITokenClient
{
    private int _calls;

    public int Calls => Volatile.Read(ref _calls);

    public TimeSpan Lifetime { get; set; } = lifetime ?? TimeSpan.FromHours(5);

    public CancellationToken LastCancellationToken { get; private set; }

    /// <summary>When set, each request waits for it before answering.</summary>
    public TaskCompletionSource? Gate { get; set; }

    /// <summary>When set, decides each answer by call number (1-based); otherwise a fresh token.</summary>
    public Func<int, Task<M3terToken>>? Behaviour { get; set; }

    public async Task<M3terToken> RequestTokenAsync(CancellationToken cancellationToken = default)
    {
        int call = Interlocked.Increment(ref _calls);
        LastCancellationToken = cancellationToken;
        if (Gate is TaskCompletionSource gate)
        {
            await gate.Task.WaitAsync(cancellationToken);
        }

        return Behaviour is null ? Issue(call) : await Behaviour(call);
    }

    public M3terToken Issue(int call)
    {
        DateTimeOffset now = time.GetUtcNow();
        return new M3terToken("token-" + call, "Bearer", now + Lifetime, now);
    }
}

/// <summary>A terminal handler that runs a delegate, for behaviour MockHttp cannot express (observing cancellation).</summary>
internal sealed class DelegateHandler(Func<System.Net.Http.HttpRequestMessage, CancellationToken, Task<System.Net.Http.HttpResponseMessage>> send) : System.Net.Http.HttpMessageHandler
{
    private int _calls;

    public int Calls => Volatile.Read(ref _calls);

    protected override Task<System.Net.Http.HttpResponseMessage> SendAsync(System.Net.Http.HttpRequestMessage request, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _calls);
        return send(request, cancellationToken);
    }

    protected override System.Net.Http.HttpResponseMessage Send(System.Net.Http.HttpRequestMessage request, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _calls);
        return send(request, cancellationToken).GetAwaiter().GetResult();
    }
}

/// <summary>
/// The one way the tests build a container with <c>AddM3terAuth</c> whose token client is a <see cref="FakeTokenClient"/>
/// (an <see cref="ITokenClient"/> registered in the container, as an application replaces it), on a fake clock.
/// </summary>
internal sealed class TestHost : IDisposable
{
    /// <param name="configure">Sets options after the test credentials (and a zero retry delay) are set.</param>
    /// <param name="services">Adds to the container after the registration.</param>
    /// <param name="name">The registration's name; the default one when empty.</param>
    /// <param name="defaults">Whether the test credentials and the zero retry delay are set in code; false leaves every option to configuration.</param>
    public TestHost(Action<M3terAuthOptions>? configure = null, Action<IServiceCollection>? services = null, string name = "", bool defaults = true)
    {
        Time = TestOptions.Clock();
        Tokens = new FakeTokenClient(Time);
        var collection = new Microsoft.Extensions.DependencyInjection.ServiceCollection();
        collection.AddSingleton<TimeProvider>(Time);
        Action<M3terAuthOptions> options = o =>
        {
            if (!defaults)
            {
                configure?.Invoke(o);
                return;
            }

            o.AccessKeyId = TestOptions.KeyId;
            o.ApiSecret = TestOptions.Secret;
            o.RetryDelay = TimeSpan.Zero;
            configure?.Invoke(o);
        };
        if (name.Length == 0)
        {
            collection.AddM3terAuth(options);
            collection.AddSingleton<ITokenClient>(Tokens);
        }
        else
        {
            collection.AddM3terAuth(name, options);
            collection.AddKeyedSingleton<ITokenClient>(name, Tokens);
        }

        services?.Invoke(collection);
        Services = collection.BuildServiceProvider();
    }

    public FakeTimeProvider Time { get; }

    public FakeTokenClient Tokens { get; }

    public ServiceProvider Services { get; }

    public void Dispose() => Services.Dispose();
}
