import { describeDifferential } from './differential';

describeDifferential('keys');
