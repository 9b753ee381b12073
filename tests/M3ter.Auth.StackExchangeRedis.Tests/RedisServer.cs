using System;
using System.Diagnostics;
using System.IO;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Threading.Tasks;

namespace M3ter.Auth.StackExchangeRedis.Tests;

/// <summary>
/// A real redis-server on a free loopback port, started for one test (no persistence) and killed after it. Tests can
/// kill it (SIGKILL), restart it on the same port, or pause its clients. Free of xunit: the benchmarks link it too.
/// </summary>
public sealed class RedisServer : IAsyncDisposable
{
    private Process? _process;
    private bool _exitedAtStart;

    private RedisServer(int port)
    {
        Port = port;
    }

    /// <summary>What to do when redis-server is not installed.</summary>
    public const string Missing = "redis-server is not installed: install it (Debian/Ubuntu: sudo apt-get install -y redis-server) to run the Redis tests; .ci/run installs it.";

    /// <summary>Gets where redis-server is, or null when it is not installed.</summary>
    public static string? Executable { get; } = Find();

    public int Port { get; }

    /// <summary>Gets the StackExchange.Redis configuration string for this server.</summary>
    public string Configuration => $"127.0.0.1:{Port}";

    public static async Task<RedisServer> StartAsync()
    {
        // A free port can be taken between finding it and redis-server binding it: then redis-server exits at once,
        // and the next attempt uses another port.
        for (int attempt = 1; ; attempt++)
        {
            var server = new RedisServer(FreePort());
            try
            {
                await server.RestartAsync();
                return server;
            }
            catch (InvalidOperationException) when (attempt < 3 && server._exitedAtStart)
            {
            }
        }
    }

    /// <summary>A loopback port nothing listens on (the next server to start there will be found on it).</summary>
    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>Starts (again) on the same port and waits until it answers PING.</summary>
    public async Task RestartAsync()
    {
        string executable = Executable ?? throw new InvalidOperationException(Missing);
        var start = new ProcessStartInfo(executable)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string arg in new[] { "--port", Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--protected-mode", "no", "--daemonize", "no" })
        {
            start.ArgumentList.Add(arg);
        }

        _process = Process.Start(start)!;
        _process.OutputDataReceived += (_, _) => { };
        _process.ErrorDataReceived += (_, _) => { };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (DateTime.UtcNow < deadline && !_process.HasExited)
        {
            try
            {
                if ((await CommandAsync("PING")).StartsWith("+PONG", StringComparison.Ordinal))
                {
                    return;
                }
            }
            catch (IOException)
            {
            }
            catch (SocketException)
            {
            }

            await Task.Delay(20);
        }

        _exitedAtStart = _process.HasExited;
        await KillAsync();
        throw new InvalidOperationException(_exitedAtStart
            ? $"redis-server exited at start on port {Port} (is the port taken?)"
            : $"redis-server did not start on port {Port} within 10 s");
    }

    /// <summary>SIGKILL: the server dies without closing anything.</summary>
    public async Task KillAsync()
    {
        if (_process is { HasExited: false } process)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }
    }

    /// <summary>Sends one command (RESP) and returns the first line of the answer.</summary>
    public async Task<string> CommandAsync(params string[] parts)
    {
        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, Port);
        NetworkStream stream = client.GetStream();
        var request = new StringBuilder().Append('*').Append(parts.Length).Append("\r\n");
        foreach (string part in parts)
        {
            request.Append('$').Append(Encoding.UTF8.GetByteCount(part)).Append("\r\n").Append(part).Append("\r\n");
        }

        byte[] bytes = Encoding.UTF8.GetBytes(request.ToString());
        await stream.WriteAsync(bytes);
        var buffer = new byte[4096];
        int read = await stream.ReadAsync(buffer);
        return Encoding.UTF8.GetString(buffer, 0, read);
    }

    public async ValueTask DisposeAsync() => await KillAsync();

    private static string? Find()
    {
        foreach (string dir in (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(Path.PathSeparator))
        {
            string candidate = Path.Combine(dir, "redis-server");
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return File.Exists("/usr/bin/redis-server") ? "/usr/bin/redis-server" : null;
    }
}
