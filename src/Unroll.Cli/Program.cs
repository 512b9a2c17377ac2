using Unroll.Cli;

return CliApp.Run(args);
